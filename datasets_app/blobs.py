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
from django.http import FileResponse

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


def _locked_row(sha256: str, size: int) -> Blob:
    """The blob's row, locked until the surrounding transaction ends (created if missing). Holding this lock
    is what makes checking, writing and deleting the file safe against a concurrent upload or collection."""
    for _ in range(5):
        blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
        if blob is not None:
            return blob
        try:
            with transaction.atomic():
                return Blob.objects.create(sha256=sha256, size_bytes=size)
        except IntegrityError:
            continue  # created concurrently: lock that one
    raise RuntimeError(f"could not lock blob {sha256}")  # pragma: no cover - needs five lost races in a row


@contextmanager
def stored(content: File, *, sha256: str, size: int) -> Iterator[Blob]:
    """Store (or reuse) a blob for the block, which records what refers to it, in one transaction.

    The blob's row stays locked until that transaction ends, so a collection cannot remove the file in
    between. A file this call wrote goes again if the block fails, so nothing half-written remains.
    """
    with transaction.atomic():
        blob = _locked_row(sha256, size)
        wrote = _write(content, sha256)
        try:
            yield blob
        except BaseException:
            if wrote:
                default_storage.delete(blob_path(sha256))
            raise


def open_blob(blob: Blob):
    return default_storage.open(blob_path(blob.sha256), "rb")


def download_response(blob: Blob, filename: str):
    """The blob as a streamed attachment (application/octet-stream, as the schema says, whatever the file's
    extension), with its length and its hash as ETag."""
    response = FileResponse(
        open_blob(blob), as_attachment=True, filename=filename, content_type="application/octet-stream"
    )
    response.block_size = CHUNK
    response["Content-Length"] = str(blob.size_bytes)
    response["ETag"] = f'"{blob.sha256}"'
    return response


def local_path(blob: Blob) -> str | None:
    """The blob's path on local disk, or None when storage is remote."""
    try:
        return default_storage.path(blob_path(blob.sha256))
    except NotImplementedError:
        return None


@contextmanager
def local_copy(blob: Blob) -> Iterator[str]:
    """A path on local disk holding the blob's bytes: the stored file itself, or a temporary download of
    a remote (S3) blob that is removed afterwards."""
    path = local_path(blob)
    if path is not None:
        yield path
        return
    import shutil
    import tempfile

    from django.conf import settings

    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".blob") as tmp:
        with default_storage.open(blob_path(blob.sha256), "rb") as src:
            shutil.copyfileobj(src, tmp, CHUNK)
        tmp.flush()
        yield tmp.name


def collect_garbage(sha256s: set[str]) -> list[str]:
    """Delete the given blobs that nothing refers to any more (rows PROTECT their blobs). Returns deleted.

    Run it after the transaction that dropped the references has committed (transaction.on_commit). Each
    blob is locked, checked and its file deleted before its row's deletion commits.
    """
    deleted = []
    for sha in sha256s:
        try:
            with transaction.atomic():
                blob = Blob.objects.select_for_update().filter(sha256=sha).first()
                if blob is None:
                    continue
                try:
                    with transaction.atomic():
                        blob.delete()
                except ProtectedError:
                    continue
                default_storage.delete(blob_path(sha))
        except Exception:  # storage unreachable, say: keep the blob, try the others, never fail the caller
            log.exception("could not collect blob %s; it stays", sha)
            continue
        deleted.append(sha)
    return deleted
