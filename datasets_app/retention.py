"""Soft delete with a retention period, shared by data sets and models (models_app uses it too).

Deleting a data set or a model stamps `deleted_at`: from then on it is gone from the API (lists and details
answer 404, its versions too), and its name is free for a new one. Within ECO_RETENTION_DAYS a staff user
can restore it (Django admin, action "Restore"); after that the reaper's round (jobs_app.services.reaper)
purges it: the row and its versions are deleted for good, and their blobs are collected when nothing else
refers to them (blobs are content-addressed and may be shared; see datasets_app.blobs.collect_garbage).

Each step is audited: `<noun>.delete` (the caller), `<noun>.restore` (the staff user), `<noun>.purge` (no
actor: the reaper).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, router, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector
from django.utils import timezone

from accounts_app.models import User
from accounts_app.names import named
from accounts_app.services import record_audit
from config.errors import Conflict
from datasets_app import blobs

log = logging.getLogger(__name__)
PURGE_BATCH = 100  # rows purged per round at most; the next round goes on


def retention() -> timedelta:
    return timedelta(days=settings.ECO_RETENTION_DAYS)


def purge_after(deleted_at: datetime) -> datetime:
    """When a row deleted at `deleted_at` is purged (at the first reaper round after this)."""
    return deleted_at + retention()


def uses(obj) -> list[str]:
    """What still refers to `obj` and would stop a real delete (PROTECT / RESTRICT), as text; empty when
    nothing does. Collects the cascade as Model.delete() would, deleting nothing."""
    collector = Collector(using=router.db_for_write(type(obj)))
    try:
        collector.collect([obj])
    except (ProtectedError, RestrictedError) as exc:
        blocking = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
        return sorted({str(o) for o in blocking})
    return []


def soft_delete(*, actor: User, obj, noun: str, now: datetime | None = None) -> None:
    """Stamp `obj` deleted (by `actor`, at `now`); audited as `<noun>.delete` with its name and id. Conflict
    (409) while something still uses it, as a real delete would be refused. Deleting a deleted row again
    changes nothing. Call inside the service's transaction."""
    locked = type(obj).all_objects.select_for_update().get(pk=obj.pk)
    if locked.deleted_at is not None:
        return
    if blocking := uses(locked):
        raise Conflict(
            f"{noun.capitalize()} '{locked.name}' is still in use and was not deleted: {'; '.join(blocking[:10])}",
            checks=blocking,
        )
    locked.deleted_at, locked.deleted_by = now or timezone.now(), actor
    locked.save(update_fields=["deleted_at", "deleted_by"])
    record_audit(actor=actor, action=f"{noun}.delete", team=locked.team, target=locked, data=_identity(locked))
    obj.deleted_at, obj.deleted_by = locked.deleted_at, locked.deleted_by


def restore(*, actor: User, obj, noun: str, now: datetime | None = None):
    """Bring a deleted `obj` back within the retention period; audited as `<noun>.restore`. Conflict (409) when
    the period is over (it is being purged) or when the team has since made another of the same name. A row
    that is not deleted is returned as it is. Call inside the service's transaction."""
    model = type(obj)
    locked = model.all_objects.select_for_update().get(pk=obj.pk)
    if locked.deleted_at is None:
        return locked
    now = now or timezone.now()
    if now >= purge_after(locked.deleted_at):
        raise Conflict(
            f"{noun.capitalize()} '{locked.name}' was deleted on {locked.deleted_at:%Y-%m-%d %H:%M} UTC, more than "
            f"{settings.ECO_RETENTION_DAYS:g} days ago (ECO_RETENTION_DAYS); it can no longer be restored."
        )
    clash = f"Team '{locked.team.slug}' has a {noun} named '{locked.name}' again; rename that one first."
    if named(model.objects.filter(team_id=locked.team_id), locked.name).exists():
        raise Conflict(clash)
    deleted_at = locked.deleted_at
    locked.deleted_at = locked.deleted_by = None
    try:
        with transaction.atomic():
            locked.save(update_fields=["deleted_at", "deleted_by"])
    except IntegrityError:  # a twin made since the check
        raise Conflict(clash) from None
    data = {**_identity(locked), "deleted_at": deleted_at.isoformat()}
    record_audit(actor=actor, action=f"{noun}.restore", team=locked.team, target=locked, data=data)
    return locked


def purge_expired(
    *, model: type[models.Model], noun: str, blob_ids: Callable[[models.Model], set[str]], now: datetime | None = None
) -> list[str]:
    """Delete for good the rows of `model` deleted more than ECO_RETENTION_DAYS before `now` (up to
    PURGE_BATCH of them), oldest first; audited as `<noun>.purge` (no actor). The blobs `blob_ids(row)` names
    are collected once the deletion has committed, those that nothing else refers to. A row something has come
    to use since its deletion (a job that was running, say) stays, with a warning, until it no longer is; one
    another reaper holds is skipped. Returns the ids purged. Each row in its own transaction."""
    cutoff = (now or timezone.now()) - retention()
    expired = model.all_objects.filter(deleted_at__lt=cutoff).order_by("deleted_at").values_list("pk", flat=True)
    purged = []
    for pk in list(expired[:PURGE_BATCH]):
        try:
            with transaction.atomic():
                row = (
                    model.all_objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("team")
                    .filter(pk=pk, deleted_at__lt=cutoff)
                    .first()
                )
                if row is None:  # restored meanwhile, or another reaper has it
                    continue
                shas = blob_ids(row)
                data = {**_identity(row), "deleted_at": row.deleted_at.isoformat()}
                record_audit(actor=None, action=f"{noun}.purge", team=row.team, target=row, data=data)
                row.delete()
        except (ProtectedError, RestrictedError) as exc:
            blocking = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
            log.warning(
                "%s %s is past its retention period but still in use (%s); kept until it is not",
                noun,
                pk,
                "; ".join(sorted({str(o) for o in blocking})[:10]),
            )
            continue
        transaction.on_commit(lambda shas=shas: blobs.collect_garbage(shas), robust=True)
        purged.append(str(pk))
    if purged:
        log.info("purged %d deleted %s(s): %s", len(purged), noun, ", ".join(purged))
    return purged


def _identity(obj) -> dict:
    return {"name": obj.name, "id": str(obj.pk)}
