"""The Django side of `ml.names`: a model-field validator, case-insensitive lookups, and the data migration that
makes existing names fit the rule (printable, NFC, unique per team without regard to case)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower

from ml import names


def validate_name(value: str) -> None:
    """Model-field validator (admin forms): refuses what `ml.names.problem` refuses."""
    if isinstance(value, str) and (found := names.problem(value)):
        raise ValidationError(found, code="unprintable")


def named(queryset: QuerySet, name: str, field: str = "name") -> QuerySet:
    """The rows of `queryset` whose `field` equals `name` without regard to case, compared the way the database's
    unique constraints on Lower(field) compare (PostgreSQL's lower(), not Python's)."""
    return queryset.alias(_lower_name=Lower(field)).filter(_lower_name=Lower(Value(names.nfc(name))))


def _cleaned(value: str) -> str:
    """An existing name made printable and NFC: refused characters dropped, blank becomes 'unnamed'."""
    kept = "".join(c for c in value if c == " " or unicodedata.category(c) not in names.REFUSED)
    return names.nfc(kept).strip() or "unnamed"


def clean_existing(
    model, *, field: str = "name", max_length: int = 200, report: Callable = print
) -> list[tuple[str, str, str]]:
    """Make every `field` of `model` printable and NFC (refused characters dropped, a blank result becomes
    'unnamed'). Works on a migration's historical model. Each change is passed to `report` as one line and
    returned as (pk, old, new)."""
    renamed = []
    for row in model.objects.order_by("pk").only("pk", field):
        old = getattr(row, field)
        new = _cleaned(old)[:max_length]
        if new != old:
            model.objects.filter(pk=row.pk).update(**{field: new})
            renamed.append((str(row.pk), old, new))
            report(f"{model._meta.label} {row.pk}: renamed {old!r} -> {new!r} (unprintable characters or not NFC)")
    return renamed


def rename_case_twins(
    model, *, scope: str = "team_id", field: str = "name", max_length: int = 200, report: Callable = print
) -> list[tuple[str, str, str]]:
    """Make every `field` of `model` printable, NFC (`clean_existing`) and unique per `scope` without regard to
    case: the oldest of a group of case twins keeps its name, the others get `-2`, `-3`... (`Digits` ->
    `Digits-2`), skipping suffixes already taken. Works on a migration's historical model. Each rename is passed
    to `report` as one line and returned as (pk, old, new), cleanings first."""
    renamed = clean_existing(model, field=field, max_length=max_length, report=report)
    rows = model.objects.annotate(_lower=Lower(field)).order_by(scope, "_lower", "created_at", "pk")
    taken: dict[object, set[str]] = {}
    for row in rows:
        taken.setdefault(getattr(row, scope), set()).add(row._lower)
    seen: set[tuple[object, str]] = set()
    for row in rows:
        group = (getattr(row, scope), row._lower)
        if group not in seen:
            seen.add(group)  # the oldest keeps its name
            continue
        old, n = getattr(row, field), 2
        while True:
            suffix = f"-{n}"
            lowered = row._lower[: max_length - len(suffix)] + suffix
            if lowered not in taken[group[0]]:
                break
            n += 1
        taken[group[0]].add(lowered)
        new = old[: max_length - len(suffix)] + suffix
        model.objects.filter(pk=row.pk).update(**{field: new})
        renamed.append((str(row.pk), old, new))
        report(f"{model._meta.label} {row.pk} ({scope}={getattr(row, scope)}): renamed {old!r} -> {new!r} (case twin)")
    return renamed
