from django.http.multipartparser import MultiPartParserError
from rest_framework import authentication, exceptions
from rest_framework.authentication import CSRFCheck

from accounts_app import token_cache
from accounts_app.models import ApiToken
from accounts_app.services import hash_token, touch_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer eco_...` against the hashed ApiToken table."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from exc
        key_hash = hash_token(raw)
        token = cached = token_cache.get(key_hash)
        if cached is None:
            token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
        problem = _refusal(token)
        if problem:
            token_cache.forget(key_hash)
            raise exceptions.AuthenticationFailed(problem)
        if cached is None:
            token_cache.put(key_hash, token)
        touch_token(token)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


def _refusal(token: ApiToken | None) -> str | None:
    if token is None:
        return "Invalid token."
    if token.revoked_at is not None:
        return "Token has been revoked."
    if not token.is_active:
        return "Token has expired."
    if not token.user.is_active:
        return "User is inactive."
    return None


def enforce_csrf(request) -> None:
    """Refuse (403, the house error body) a request whose X-CSRFToken header does not match its csrftoken
    cookie, whoever makes it. DRF checks CSRF only for callers its SessionAuthentication has signed in; the
    session sign-in and sign-out endpoints need it for anonymous callers too (login CSRF). Django's test
    client skips the check unless built with `enforce_csrf_checks=True`, as it does for any view."""
    check = CSRFCheck(lambda req: None)
    django_request = getattr(request, "_request", request)
    check.process_request(django_request)  # reads the cookie into request.META
    try:
        # the check looks for a form token in the body first; a multipart body without a boundary fails there
        reason = check.process_view(django_request, None, (), {})
    except MultiPartParserError as exc:
        raise exceptions.ParseError(f"Multipart form parse error - {exc}") from exc
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")
