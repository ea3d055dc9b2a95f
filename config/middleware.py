"""Request checks that apply to every endpoint."""

from django.http import JsonResponse

from config.api import error_body


class RejectNulInQueryMiddleware:
    """A NUL character in a query parameter can reach no valid lookup (PostgreSQL text cannot hold one):
    answer 400 in the API's error shape instead of failing deep inside a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "")
                detail = f"{field}: query parameters must not contain NUL characters."
                return JsonResponse(error_body(400, "invalid", detail, {field: [detail]}), status=400)
        return self.get_response(request)
