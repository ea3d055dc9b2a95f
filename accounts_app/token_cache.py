"""Tokens verified in the last ECO_TOKEN_CACHE_S seconds, per process, so a burst of API calls (predictions,
say) does not look the same token up in the database on every request. Revoking a token through Eco forgets it
here at once; another process notices within ECO_TOKEN_CACHE_S seconds (0 turns the cache off)."""

from __future__ import annotations

import threading
import time

from django.conf import settings

MAX_ENTRIES = 10_000
_entries: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()


def get(key_hash: str):
    entry = _entries.get(key_hash)
    if entry is None or time.monotonic() - entry[0] >= settings.ECO_TOKEN_CACHE_S:
        return None
    return entry[1]


def put(key_hash: str, token) -> None:
    if settings.ECO_TOKEN_CACHE_S <= 0:
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key_hash] = (time.monotonic(), token)


def forget(key_hash: str) -> None:
    with _lock:
        _entries.pop(key_hash, None)
