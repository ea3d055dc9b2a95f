"""Blobs in S3 through django-storages. S3 cannot exist here, so moto stands in for it (in-process mock)."""

import hashlib
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.test import override_settings
from django.utils import timezone
from moto import mock_aws

from datasets_app.services import purge_deleted_datasets
from tests.helpers import csv_file

BUCKET = "eco-test-blobs"
S3_STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "region_name": "us-east-1", "file_overwrite": False},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@pytest.fixture
def s3(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        with override_settings(STORAGES=S3_STORAGES):
            yield client


def test_upload_preview_download_and_delete_with_s3(world, dataset, s3, media_root, django_capture_on_commit_callbacks):
    text = "x,label\n1,a\n2,b\n3,a\n"
    client = world.client("member")
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": csv_file(text), "target": "label"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    sha = hashlib.sha256(text.encode()).hexdigest()
    key = f"sha256/{sha[:2]}/{sha[2:4]}/{sha}"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == text.encode()
    assert [p for p in Path(media_root).rglob("*") if p.is_file()] == []  # nothing on local disk

    version = response.json()["id"]
    assert client.get(f"/api/v1/dataset-versions/{version}/preview/").json()["rows"][0] == [1, "a"]
    download = client.get(f"/api/v1/dataset-versions/{version}/download/")
    assert b"".join(download.streaming_content) == text.encode()

    assert world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 1  # a soft delete: kept for the retention period
    with django_capture_on_commit_callbacks(execute=True):
        purge_deleted_datasets(now=timezone.now() + timedelta(days=31))
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_bucket_setting_switches_storage_to_s3(tmp_path):
    code = "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "ECO_VAR_DIR": str(tmp_path)}
    run = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    root = Path(__file__).resolve().parents[2]
    local = subprocess.run(run, env=env, capture_output=True, text=True, cwd=root, check=True)
    remote = subprocess.run(
        run, env={**env, "AWS_STORAGE_BUCKET_NAME": "b"}, capture_output=True, text=True, cwd=root, check=True
    )
    assert local.stdout.strip() == "django.core.files.storage.FileSystemStorage"
    assert remote.stdout.strip() == "storages.backends.s3.S3Storage"
