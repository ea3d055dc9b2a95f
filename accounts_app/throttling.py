"""The API's rate limits (DRF throttles), counted in the shared cache (settings.CACHES) by the client address
of accounts_app.client_ip, so a client cannot reset them by sending its own X-Forwarded-For."""

from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from accounts_app.client_ip import client_ip


class LoginRateThrottle(ScopedRateThrottle):
    """The `login` scope (POST auth/token/ and auth/session/): every attempt from one address counts, the
    failed ones also towards django-axes' lock-out."""

    def get_ident(self, request):
        return client_ip(request)


class CallerRateThrottle(SimpleRateThrottle):
    """Every API request: per API token when one is used (each token its own budget), else per signed-in
    user (the dashboard's session), else per client address (rates `caller` and `anonymous`). The rates
    (settings: ECO_CALLER_RATE, ECO_ANON_RATE) are per second, well above the dashboard's polling, metric
    ingest and the schema fuzzing run, and stop a runaway script."""

    scope = "caller"

    def allow_request(self, request, view):
        self.scope = "caller" if request.user and request.user.is_authenticated else "anonymous"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is not None and getattr(token, "pk", None) is not None:
            ident = f"token:{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{client_ip(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def get_ident(self, request):
        return client_ip(request)
