"""An upload handler that hashes (and, for CSV, parses) while it streams to a temporary file.

Three things happen to each chunk at once, on both cores: the request thread writes it to disk, a thread
hashes it (hashlib releases the GIL), and for CSV a thread parses it (pyarrow releases the GIL). Memory
stays flat: a few chunks are in flight at any time. Past ECO_MAX_UPLOAD_BYTES the handler stops reading
and marks the request so the view answers 413 (see `ensure_upload_completed`).
"""

import contextlib
import hashlib
import logging
import os
import queue
import tempfile
import threading
import time
import weakref
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from config.errors import PayloadTooLarge
from ml.formats import format_of
from ml.formats.csv import StreamInspector

TOO_LARGE_FLAG = "_eco_upload_too_large"
# Django's TemporaryUploadedFile names its files tmpXXXXXXXX.upload<.ext>; other files and folders in
# FILE_UPLOAD_TEMP_DIR (jobs' scratch folders, blob copies) are not uploads and are never touched here.
UPLOAD_TEMP_MARK = ".upload"

log = logging.getLogger(__name__)


class BackgroundHasher:
    """SHA-256 on a thread of its own, fed through a short queue."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._queue: queue.Queue = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, name="upload-hasher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def feed(self, data: bytes) -> None:
        self._queue.put(data)

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Streams each uploaded file to FILE_UPLOAD_TEMP_DIR. The finished file carries `.sha256` and, for a
    `.csv`, `.early_inspection` (a csv StreamInspector that parsed it on the way in)."""

    def __init__(self, request=None):
        super().__init__(request)
        self.chunk_size = settings.ECO_UPLOAD_CHUNK_BYTES
        self._hasher = None
        self._inspector = None
        # Django tells a handler about few of the ways an upload can die (a broken multipart body, a client
        # that hangs up, a full disk); whatever happens, the helper threads end with the handler.
        self._helpers: list = []
        weakref.finalize(self, _stop_all, self._helpers)

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self._size = 0
        self._hasher = BackgroundHasher()
        self._inspector = StreamInspector() if format_of(file_name) == "csv" else None
        self._helpers.extend(h for h in (self._hasher, self._inspector) if h is not None)

    def receive_data_chunk(self, raw_data, start):
        self._size += len(raw_data)
        if self._size > settings.ECO_MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            self._stop_helpers()
            self.file.close()
            raise StopUpload(connection_reset=False)
        try:
            self._hasher.feed(raw_data)
            if self._inspector is not None:
                self._inspector.feed(raw_data)
            self.file.write(raw_data)
        except BaseException:
            self._stop_helpers()
            raise

    def file_complete(self, file_size):
        file = super().file_complete(file_size)
        file.sha256 = self._hasher.hexdigest()
        file.early_inspection = self._inspector
        if self._inspector is not None:
            self._inspector.close()  # end of stream: the parser finishes on its own
        self._hasher = self._inspector = None
        return file

    def upload_interrupted(self):
        self._stop_helpers()
        super().upload_interrupted()

    def _stop_helpers(self) -> None:
        _stop_all([h for h in (self._hasher, self._inspector) if h is not None])
        self._hasher = self._inspector = None


def _stop_all(helpers: list) -> None:
    for helper in helpers:
        helper.close()


def read_upload(request):
    """The request's parsed body, streamed through HashingUploadHandler; 413 when it is over the limit,
    whether declared up front (Content-Length) or found while streaming."""
    ensure_upload_fits(request)
    payload = request.data
    ensure_upload_completed(request)
    return payload


def ensure_upload_fits(request) -> None:
    """413 before reading a body whose declared length is over the limit."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.ECO_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(_too_large_message())


def ensure_upload_completed(request) -> None:
    """413 when the handler stopped a file that grew past the limit while streaming."""
    django_request = getattr(request, "_request", request)
    if getattr(django_request, TOO_LARGE_FLAG, False):
        raise PayloadTooLarge(_too_large_message())


def _too_large_message() -> str:
    return f"The upload is larger than the limit of {settings.ECO_MAX_UPLOAD_BYTES} bytes (ECO_MAX_UPLOAD_BYTES)."


def remove_stale_temp_files(older_than_s: float) -> int:
    """Delete the temporary files of interrupted uploads from FILE_UPLOAD_TEMP_DIR; returns how many.

    A web process killed mid-upload never removes its temporary file. A file is stale when nothing wrote to
    it for `older_than_s` seconds (a live upload writes every chunk) and no process on this machine holds it
    open (a live upload holds its file until its request ends; checked through /proc where there is one).
    Run by the reaper (`manage.py reap_jobs`) every ECO_REAPER_INTERVAL_S with ECO_UPLOAD_TMP_MAX_AGE_S.
    """
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    cutoff = time.time() - older_than_s
    stale = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if UPLOAD_TEMP_MARK in entry.name and entry.is_file(follow_symlinks=False):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    stale.append(Path(entry.path))
        except FileNotFoundError:  # its upload ended meanwhile
            continue
    if not stale:
        return 0
    held = _open_files()
    removed = 0
    for path in stale:
        if str(path.resolve()) in held:
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    if removed:
        log.info("removed %d stale upload temporary file(s) from %s", removed, folder)
    return removed


def _open_files() -> set[str]:
    """Paths that processes of this machine hold open (those /proc lets us see; none without /proc)."""
    held: set[str] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return held
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            fds = os.scandir(proc / pid / "fd")
        except OSError:  # gone, or another user's
            continue
        with fds:
            for fd in fds:
                try:
                    held.add(os.readlink(fd.path))
                except OSError:
                    continue
    return held


@contextlib.contextmanager
def raw_body(request, name: str = "upload"):
    """The request's body as sent (any content type: MLflow's artifact PUT is the file's bytes), streamed to a
    temporary file and hashed on the way in constant memory. Yields (File named `name`, sha256 hex, size in
    bytes); the file is removed afterwards. Raises PayloadTooLarge (413) past ECO_MAX_UPLOAD_BYTES, declared
    up front or found while reading."""
    ensure_upload_fits(request)
    django_request = getattr(request, "_request", request)
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=UPLOAD_TEMP_MARK) as spooled:
        while chunk := django_request.read(settings.ECO_UPLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > settings.ECO_MAX_UPLOAD_BYTES:
                raise PayloadTooLarge(_too_large_message())
            digest.update(chunk)
            spooled.write(chunk)
        spooled.flush()
        spooled.seek(0)
        yield File(spooled, name=name), digest.hexdigest(), size
