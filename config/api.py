"""Shared REST plumbing: pagination and the one error body every endpoint answers with.

Error body: {"status": 400, "code": "invalid", "detail": "<field>: <problem>", "errors": {"<field>": ["..."]}}
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
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


# The statuses any operation may answer besides its own: DRF and the handlers above answer them in the one shape.
ERROR_STATUSES = {
    "400": "Invalid input; `errors` names each field.",
    "401": "Not authenticated.",
    "403": "Authenticated, but the role is too low (or a rule on the object's state refuses the caller).",
    "404": "Not found (or not visible to you).",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Conflicts with the current state.",
    "413": "Body too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests.",
}


ERROR_SCHEMA = {
    "type": "object",
    "description": "The one shape of every error answer.",
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "checks": {"type": "array", "items": {}, "description": "409 of a gate: the failed checks"},
        "retry_after_s": {"type": "number", "description": "429: seconds to wait"},
    },
    "required": ["status", "code", "detail", "errors"],
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the error answers in the one shape, so
    clients generated from the schema can read them and Schemathesis checks them like any other answer."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_STATUSES.items():
                answer = {"content": {"application/json": {"schema": ref}}, "description": description}
                responses.setdefault(code, answer)
    return result


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    """Unmatched URLs under /api/ (including ids that are not UUIDs) answer the JSON error body; others keep
    Django's page (the dashboard's deep links are served by the catch-all route, never here)."""
    if _wants_json(request):
        return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


@csrf_exempt  # like every API view: a cookie must not turn a 404 into Django's HTML CSRF page
def api_not_found(request, *args, **kwargs):
    """The catch-all of /api/: a JSON 404 for any method. A URL that only lacks its trailing slash gets
    Django's redirect for GET and HEAD, and for other methods a 404 that says so (a redirect would drop a body)."""
    from django.http import HttpResponsePermanentRedirect
    from django.urls import Resolver404, resolve

    path = request.path_info
    if not path.endswith("/"):
        try:
            match = resolve(path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            if request.method in ("GET", "HEAD"):
                query = request.META.get("QUERY_STRING", "")
                return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
            detail = f"Not found: API URLs end with a slash ({request.path}/)."
            return JsonResponse(error_body(404, "not_found", detail), status=404)
    return JsonResponse(error_body(404, "not_found", "Not found."), status=404)


def handler500(request):
    if _wants_json(request):
        return JsonResponse(error_body(500, "server_error", "Internal server error."), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def handler403(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(403, "permission_denied", "Forbidden."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the JSON error body under /api/ (a session caller without the CSRF token)."""
    if _wants_json(request):
        return JsonResponse(error_body(403, "permission_denied", f"CSRF failed: {reason}"), status=403)
    from django.views.csrf import csrf_failure as default

    return default(request, reason)


def handler400(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(400, "invalid", "Bad request."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
