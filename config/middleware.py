"""Request checks that apply to every endpoint."""

from urllib.parse import unquote_to_bytes

from django.http import JsonResponse

from config.api import error_body


def _bad_request(field: str, problem: str) -> JsonResponse:
    detail = f"{field}: {problem}"
    return JsonResponse(error_body(400, "invalid", detail, {field: [problem]}), status=400)


class RejectNulInQueryMiddleware:
    """Text in the URL that no lookup can use answers 400 in the API's error shape instead of failing deep
    inside a query or being silently altered: a path or query string that is not valid UTF-8 once
    percent-decoded (Django would replace the bad bytes with U+FFFD and search for that), and NUL characters
    in query parameters (PostgreSQL text cannot hold one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Django re-percent-encodes the bytes of a path that are not UTF-8 (%FF) before we see it; the query
        # string arrives raw, as a latin-1 string of its bytes
        try:
            unquote_to_bytes(request.path_info).decode("utf-8")
        except UnicodeError:
            return _bad_request("path", "the URL path is not valid UTF-8.")
        try:
            unquote_to_bytes(request.META.get("QUERY_STRING", "").encode("latin-1")).decode("utf-8")
        except UnicodeError:
            return _bad_request("query", "the query string is not valid UTF-8.")
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "")
                return _bad_request(field, "query parameters must not contain NUL characters.")
        return self.get_response(request)
