"""Shared REST plumbing: pagination and the one error body every endpoint answers with.

Error body: {"status": 400, "code": "invalid", "detail": "<field>: <problem>", "errors": {"<field>": ["..."]}}
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ml.errors import UserError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structures into {"a.b": ["msg", ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = key if not prefix else (prefix if key in ("non_field_errors", "__all__") else f"{prefix}.{key}")
            if key in ("non_field_errors", "__all__") and not prefix:
                name = "non_field_errors"
            for sub, msgs in _flatten(value, name).items():
                flat.setdefault(sub, []).extend(msgs)
    elif isinstance(errors, list):
        for i, item in enumerate(errors):
            if isinstance(item, (dict, list)):
                for sub, msgs in _flatten(item, f"{prefix}[{i}]" if prefix else str(i)).items():
                    flat.setdefault(sub, []).extend(msgs)
            else:
                flat.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        flat.setdefault(prefix or "non_field_errors", []).append(str(errors))
    return flat


def _summary(errors: dict[str, list[str]]) -> str:
    parts = []
    for field, msgs in errors.items():
        text = "; ".join(msgs)
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return " | ".join(parts) or "Invalid input."


def error_body(code_status: int, code: str, detail: str, errors: dict | None = None, **extra) -> dict:
    """The one JSON shape of every error answer."""
    return {"status": code_status, "code": code, "detail": detail, "errors": errors or {}, **extra}


def _body(code_status: int, code: str, detail: str, errors: dict | None = None, **extra) -> Response:
    return Response(error_body(code_status, code, detail, errors, **extra), status=code_status)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            errors = {"non_field_errors": exc.messages}
        errors = _flatten(errors)
        return _body(400, "invalid", _summary(errors), errors)
    if isinstance(exc, UserError):
        errors = {exc.field: [exc.message]} if exc.field else {}
        return _body(exc.status, exc.code, str(exc), errors, **exc.extra)
    if isinstance(exc, RequestDataTooBig):
        return _body(413, "too_large", f"The request body is larger than {settings.ECO_MAX_JSON_BYTES} bytes.")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        response.data = {"status": 400, "code": "invalid", "detail": _summary(errors), "errors": errors}
        return response
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else str(response.data)
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"status": response.status_code, "code": code, "detail": str(detail), "errors": {}}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and getattr(exc, "wait", None):
        response.data["retry_after_s"] = exc.wait
    return response
