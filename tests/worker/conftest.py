"""Tests here commit for real (transactional_db) so the worker can see their rows; files go to the media
folder the worker shares. The worker itself and its stack are in tests/stack.py."""

import pytest
from django.test import override_settings

from tests.stack import FAST


@pytest.fixture(autouse=True)
def _shared_files(_isolated_files, stack):
    """The worker must find the blobs the test stored: both use the stack's media folder."""
    with override_settings(
        MEDIA_ROOT=str(stack.media), FILE_UPLOAD_TEMP_DIR=str(stack.tmp), ECO_POOLS=FAST["ECO_POOLS"].split(",")
    ):
        yield
