"""User-supplied JSON goes into PostgreSQL jsonb columns and back out through JSON responses, so it must be
plain JSON: no NUL characters or unpaired surrogates in strings, no NaN or infinity, and no nesting deep
enough to blow Python's recursion limit. `parse_json` and `unsafe_text` make all of that a 400, never a 500."""

import json
import math

MAX_DEPTH = 32


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON here")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def parse_json(text: str | bytes):
    """Strict JSON: NaN, Infinity, out-of-range numbers, over-long integers and deep nesting raise ValueError."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("JSON must be UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, too many digits, the hooks above
        raise ValueError(f"Not valid JSON: {exc}") from None
    if problem := too_deep(value):
        raise ValueError(problem)
    return value


def too_deep(value, limit: int = MAX_DEPTH) -> str | None:
    """Iterative, so a hostile depth cannot exhaust the stack while we measure it."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > limit:
                return f"JSON nested deeper than {limit} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def unsafe_text(value, where: str = "") -> str | None:
    """Describe the first thing inside `value` that jsonb or a JSON response cannot hold, or None."""
    if problem := too_deep(value):
        return f"{where or 'value'}: {problem}"
    return _unsafe(value, where)


def _unsafe(value, where: str) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where or 'text'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or 'text'} contains an unpaired surrogate (not valid Unicode)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'value'} is {value}, not a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _unsafe(str(key), f"{where}.{key!r}" if where else f"key {key!r}")
            if problem is None:
                problem = _unsafe(item, f"{where}[{key!r}]" if where else repr(key))
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if problem := _unsafe(item, f"{where}[{i}]"):
                return problem
    return None
