"""The Django side of `ml.names`: a model-field validator, case-insensitive lookups, and the data migration that
makes existing names fit the rule (printable, NFC, unique per team without regard to case)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

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


def duplicate_name(team, name: str, noun: str) -> ValidationError:
    """The 400 on `name` for a name its team already has (without regard to case)."""
    return ValidationError({"name": [f"Team '{team.slug}' already has a {noun} named '{name}' (names ignore case)."]})


def update_named(
    instance,
    changes: dict,
    *,
    noun: str,
    editable: set[str],
    audited_values: set[str],
    check: Callable | None = None,
) -> tuple:
    """Apply `changes` to a team's named record (a dataset, a model) under a row lock: only `editable` fields,
    the name printable, NFC and free in its team without regard to case. `check(locked, changes)` may refuse
    further (raising). Returns `(saved, audit)`, where `audit` is `{"fields": [...changed], <audited_values
    field>: {"old", "new"}}`, or None when nothing changed. Raises ValidationError / UserError naming the
    field; the caller's transaction rolls back."""
    unknown = set(changes) - editable
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in unknown})
    if "name" in changes:
        changes["name"] = names.clean_name(changes["name"], max_length=200)
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    if check is not None:
        check(locked, changes)
    siblings = type(instance).objects.filter(team_id=locked.team_id).exclude(pk=locked.pk)
    if "name" in changes and (twin := named(siblings, changes["name"]).first()):
        raise duplicate_name(locked.team, twin.name, noun)
    changed = sorted(field for field, value in changes.items() if getattr(locked, field) != value)
    audit = {
        "fields": changed,
        **{f: {"old": getattr(locked, f), "new": changes[f]} for f in audited_values & set(changed)},
    }
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.updated_at = timezone.now()
    locked.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError as exc:  # a twin created since the check above
        raise duplicate_name(locked.team, locked.name, noun) from exc
    return locked, (audit if changed else None)
