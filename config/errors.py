"""Domain errors that services raise; `config.api.exception_handler` turns them into JSON 4xx answers.

They all derive from `ml.errors.UserError` (Django-free, so `ml/` raises the same class). Services may also raise
django.core.exceptions.ValidationError (400) and Http404 (404).
"""

from ml.errors import Conflict, Forbidden, PayloadTooLarge, UserError

__all__ = ["Conflict", "Forbidden", "PayloadTooLarge", "UserError"]
