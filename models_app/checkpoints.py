"""A stored Hugging Face checkpoint (a model version of format `hf`) as a folder on local disk, for the
libraries that read checkpoints from folders (transformers, tokenizers, peft)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.conf import settings

from datasets_app import blobs
from models_app.models import ModelVersion, WeightsFormat


@contextmanager
def local_folder(version: ModelVersion) -> Iterator[Path]:
    """A temporary folder holding the version's files under their names: links to the stored blobs on local
    disk, or downloads of remote (S3) ones; removed afterwards. ValueError for a version of another format."""
    if version.format != WeightsFormat.HF:
        raise ValueError(f"version {version.pk} is {version.format}, not a Hugging Face checkpoint")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR)))
        for entry in version.files.select_related("blob"):
            (folder / entry.name).symlink_to(stack.enter_context(blobs.local_copy(entry.blob)))
        yield folder
