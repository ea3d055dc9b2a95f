"""Who is calling: the client's address, believing `X-Forwarded-For` only from the configured reverse proxies
(settings.ECO_TRUSTED_PROXIES), and the answer to a caller locked out for too many failed sign-ins. Shared by
the API's throttles and django-axes, so every limit counts the same address."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import JsonResponse


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request) -> str:
    """The calling client's address (a string; '' when unknown).

    The connection's address (REMOTE_ADDR) unless it is a trusted proxy; then `X-Forwarded-For` is read from
    the right, skipping trusted proxies, and the first address not trusted is the client (the rule of
    werkzeug's ProxyFix and Rails' remote_ip): a client cannot choose its address by sending the header itself,
    since only the entries the trusted proxies appended are believed."""
    request = getattr(request, "_request", request)
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = _networks(tuple(settings.ECO_TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:  # garbage where an address should be: the last proxy's view is all we know
                return remote
    return hops[0] if hops else remote


def locked_out(request, credentials=None, *args, **kwargs) -> JsonResponse:
    """django-axes' answer to a locked-out sign-in, in the API's error shape: 429 with the cool-off time."""
    from config.api import error_body  # config.api imports the throttles, which import this module

    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    detail = f"Too many failed sign-ins for this account or from this address; try again in {minutes:g} minutes."
    response = JsonResponse(error_body(429, "throttled", detail), status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
