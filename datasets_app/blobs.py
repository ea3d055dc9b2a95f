"""Content-addressed blob storage through Django's Storage API.

A blob lives at sha256/ab/cd/<hash>; identical content is stored once. Files are hashed while they stream
(constant memory). Local disk by default; S3 through django-storages when AWS_STORAGE_BUCKET_NAME is set.
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from datasets_app.models import Blob

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def blob_path(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def hash_path(path: str | Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write(content: File, sha256: str) -> bool:
    """Put the content in storage unless it is there already; True when this call wrote it."""
    name = blob_path(sha256)
    if default_storage.exists(name):
        return False
    saved = default_storage.save(name, content)
    if saved != name:  # another writer won the race; keep theirs
        default_storage.delete(saved)
        return False
    return True


@contextmanager
def stored(content: File, *, sha256: str, size: int) -> Iterator[Blob]:
    """Store (or reuse) a blob and its row for the block; a file this call wrote goes again if the block fails.

    Use it around the transaction that records what refers to the blob, so nothing half-written remains.
    """
    wrote = _write(content, sha256)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    blob, _ = Blob.objects.get_or_create(sha256=sha256, defaults={"size_bytes": size})
            except IntegrityError:
                blob = Blob.objects.get(sha256=sha256)
            yield blob
    except BaseException:
        if wrote:
            default_storage.delete(blob_path(sha256))
        raise


def open_blob(blob: Blob):
    return default_storage.open(blob_path(blob.sha256), "rb")


def local_path(blob: Blob) -> str | None:
    """The blob's path on local disk, or None when storage is remote."""
    try:
        return default_storage.path(blob_path(blob.sha256))
    except NotImplementedError:
        return None


def collect_garbage(sha256s: set[str]) -> list[str]:
    """Delete the given blobs that nothing refers to any more (rows PROTECT their blobs). Returns deleted."""
    deleted = []
    for sha in sha256s:
        try:
            with transaction.atomic():
                Blob.objects.filter(sha256=sha).delete()
        except ProtectedError:
            continue
        deleted.append(sha)
        transaction.on_commit(lambda s=sha: default_storage.delete(blob_path(s)))
    return deleted
