"""PostgreSQL's jsonb cannot hold a NUL character or an unpaired surrogate. Anything user-supplied that
ends up in a JSON column goes through `unsafe_text` first, so bad text is a 400, never a 500."""


def unsafe_text(value, where: str = "") -> str | None:
    """Describe the first string (key or value) inside `value` that jsonb cannot store, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where or 'text'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or 'text'} contains an unpaired surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unsafe_text(str(key), f"{where}.{key!r}" if where else f"key {key!r}")
            if problem is None:
                problem = unsafe_text(item, f"{where}[{key!r}]" if where else repr(key))
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if problem := unsafe_text(item, f"{where}[{i}]"):
                return problem
    return None
