"""Domain errors that services raise; `config.api.exception_handler` turns them into JSON 4xx answers.

They all derive from `ml.errors.UserError` (Django-free, so `ml/` raises the same class). Services may also raise
django.core.exceptions.ValidationError (400) and Http404 (404).
"""

from django.core.exceptions import ValidationError

from ml.errors import Conflict, Forbidden, PayloadTooLarge, UserError

__all__ = ["Conflict", "Forbidden", "PayloadTooLarge", "UserError", "error_text"]


def error_text(exc: Exception) -> str:
    """A service's error as one line for a person: a ValidationError as `field: message; ...` (its messages
    joined when it names no field), anything else as str(exc) (a UserError is `field: message`)."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
        return "; ".join(exc.messages)
    return str(exc)
