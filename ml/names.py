"""Names people give things (datasets, models, teams, aliases, metric keys): printable, NFC, compared without case.

A name is shown in lists, URLs, logs and terminals, so it must look like what it is: no control characters, no
bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069: they reorder what a reader sees), no zero-width
characters (U+200B-U+200D, U+2060, U+FEFF: two names that look the same would differ), no surrogates, private-use
or unassigned code points, and no line or paragraph separators or spaces other than U+0020. Precomposed and
combining forms of the same text (`é` and `e` + U+0301) are one name: names are stored in NFC.

Django-free: the apps' serializers and services, and the metrics store, call the same function.
"""

from __future__ import annotations

import unicodedata

from ml.errors import UserError

# unicodedata categories refused anywhere in a name, with the words a user understands
REFUSED = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (bidirectional or zero-width)",
    "Cs": "an unpaired surrogate (not valid Unicode)",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}


def problem(value: str) -> str | None:
    """What makes `value` unfit for a name (the first offending character, as U+XXXX), or None if it is fine.

    The same rule as `str.isprintable()` (U+0020 is the one space allowed), with the reason spelt out."""
    for position, char in enumerate(value):
        if char == " ":
            continue
        category = unicodedata.category(char)
        if category in REFUSED:
            return f"contains {REFUSED[category]} (U+{ord(char):04X} at position {position}); names must be printable"
    return None


def nfc(value: str) -> str:
    """The NFC form of a string already checked by `problem` (a lone surrogate would not survive the check)."""
    return unicodedata.normalize("NFC", value)


def clean_name(value, *, field: str = "name", max_length: int | None = None) -> str:
    """`value` in NFC if it is a printable, non-blank string of at most `max_length` characters (counted in NFC).

    Raises UserError(field=field) naming the problem and, for a bad character, its code point and position."""
    if not isinstance(value, str):
        raise UserError("must be a string", field=field)
    if found := problem(value):
        raise UserError(found, field=field)
    value = nfc(value)
    if not value.strip():
        raise UserError("must not be blank", field=field)
    if max_length is not None and len(value) > max_length:
        raise UserError(f"must be at most {max_length} characters (it has {len(value)})", field=field)
    return value


def case_key(value: str) -> str:
    """What two names must differ in to coexist: `Digits` and `digits` share one key (PostgreSQL's lower())."""
    return nfc(value).lower()
