"""An upload handler that hashes while it streams to a temporary file, and stops oversize uploads."""

import hashlib

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from config.errors import PayloadTooLarge

TOO_LARGE_FLAG = "_eco_upload_too_large"


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each uploaded file to FILE_UPLOAD_TEMP_DIR, computing its SHA-256 on the way (constant memory).

    The finished file carries `.sha256` and `.size`. Past ECO_MAX_UPLOAD_BYTES it stops reading and marks
    the request, so the view answers 413 (see `ensure_upload_fits`).
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.chunk_size = settings.ECO_UPLOAD_CHUNK_BYTES

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()
        self._size = 0

    def receive_data_chunk(self, raw_data, start):
        self._size += len(raw_data)
        if self._size > settings.ECO_MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            self.file.close()
            raise StopUpload(connection_reset=False)
        self._digest.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size):
        file = super().file_complete(file_size)
        file.sha256 = self._digest.hexdigest()
        return file


def ensure_upload_fits(request) -> None:
    """413 before reading a body whose declared length is over the limit."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.ECO_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(_too_large_message())


def ensure_upload_completed(request) -> None:
    """413 when the handler stopped a body that grew past the limit (e.g. chunked, no Content-Length)."""
    if getattr(request, TOO_LARGE_FLAG, False) or getattr(getattr(request, "_request", None), TOO_LARGE_FLAG, False):
        raise PayloadTooLarge(_too_large_message())


def _too_large_message() -> str:
    return f"The upload is larger than the limit of {settings.ECO_MAX_UPLOAD_BYTES} bytes (ECO_MAX_UPLOAD_BYTES)."
