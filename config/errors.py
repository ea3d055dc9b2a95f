"""Domain errors that services raise; config.api.exception_handler turns them into JSON 4xx answers.

Services also raise django.core.exceptions.ValidationError (400) and Http404 (404).
"""


class Conflict(Exception):
    """The request is valid but clashes with the current state (409)."""

    def __init__(self, message: str, *, checks: list | None = None):
        super().__init__(message)
        self.message = message
        self.checks = checks or []


class PayloadTooLarge(Exception):
    """The upload is larger than ECO_MAX_UPLOAD_BYTES (413)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
