"""The one base class of errors a user can fix: Django-free, so `ml/`, `eco/` and the apps raise the same thing.

`config.api.exception_handler` maps every `UserError` to the one JSON error body, once:
`{"status": exc.status, "code": exc.code, "detail": "<field>: <message>", "errors": {"<field>": ["<message>"]}}`.
A worker that catches one records `str(exc)` (field and message) as the job's one-line `error`.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input the caller can fix (HTTP 400 unless a subclass says otherwise).

    Args:
        message: what is wrong, in one sentence, without the field name.
        field: where, as a path into the request: `spec.steps[2].column`, `inputs[0]`, `file`; None for the
            request as a whole.
        **extra: more keys for the JSON body (a 409's `checks`, say).
    """

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def prefixed(self, prefix: str) -> UserError:
        """A copy whose field path sits under `prefix` (`steps[2]` + `column` -> `spec.steps[2].column`)."""
        if not self.field:
            return self.with_field(prefix)
        return self.with_field(f"{prefix}{self.field}" if self.field.startswith("[") else f"{prefix}.{self.field}")

    def with_field(self, field: str | None) -> UserError:
        """A copy of the same class and message at another field path (subclasses may take other arguments,
        so the copy is made without calling `__init__`)."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.args = self.args
        clone.field = field
        return clone


class Conflict(UserError):
    """The request is valid but clashes with the current state (409); `checks` may list what failed."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, checks: list | None = None, field: str | None = None):
        super().__init__(message, field=field, checks=checks or [])
        self.checks = checks or []


class AlreadyExists(UserError):
    """Something of that name exists already (400, as MLflow's protocol answers RESOURCE_ALREADY_EXISTS)."""

    code = "already_exists"


class PayloadTooLarge(UserError):
    """The body is larger than the endpoint accepts (413)."""

    status = 413
    code = "too_large"


class Forbidden(UserError):
    """The caller may see the object but not do this to it (403); used by state-dependent rules in services."""

    status = 403
    code = "permission_denied"
