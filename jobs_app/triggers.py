"""Retrain triggers: every write about them, and the chain a run walks through.

A run is snapshot -> train -> evaluate -> promote. Each of the first three is a job linked to the run; when
one ends, `job_ended` (the hook the services call in the transaction that ends a job, wired in
JobsAppConfig.ready) hands over to `advance`, which submits the next step or records why the run stopped.
Promotion goes through models_app's `set_alias`, so the model's gate decides: a passing version takes the
alias and serves at once, a failing one leaves the run `not_promoted` with the failed checks.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts_app.models import Role, Team, User
from accounts_app.selectors import role_of
from accounts_app.services import record_audit
from config.errors import Conflict, UserError, error_text
from datasets_app import processing
from datasets_app.models import DatasetVersion
from jobs_app import specs
from jobs_app.models import Job, JobKind, JobStatus, RetrainTrigger, RunStatus, TriggerRun
from jobs_app.services.submission import submit_job
from models_app import feedback, gates, selectors
from models_app import services as model_services
from models_app.models import GatePolicy, ModelVersion, RegisteredModel, alias_validator

log = logging.getLogger(__name__)
EDITABLE = {"name", "min_feedback", "train", "promote_if", "enabled"}


def _needs_architecture(model: RegisteredModel) -> str | None:
    """Why `model` cannot be retrained (all its versions are brought ONNX graphs), or None."""
    if selectors.lacks_architecture_spec(model=model):
        return (
            f"retraining needs an Eco architecture spec: every version of model '{model.name}' is a brought ONNX "
            "graph. Register safetensors weights with an architecture spec, or train a version, first."
        )
    return None


def training_kind(train: dict) -> str:
    """The job kind of a trigger's `train` spec: finetune when it names a pretrained `base_version` (each run
    fine-tunes again from that same checkpoint), train otherwise."""
    return JobKind.FINETUNE if "base_version" in train else JobKind.TRAIN


def _checked_train(*, actor: User, team: Team, model: RegisteredModel, base: DatasetVersion, train) -> dict:
    """The trigger's train spec, checked as a real train (or finetune: `training_kind`) job on the base
    version would be."""
    if not isinstance(train, dict):
        raise ValidationError({"train": ['must be an object such as {"architecture": "cnn"}.']})
    fixed = sorted({"dataset_version", "model"} & set(train))
    if fixed:
        raise ValidationError({f"train.{fixed[0]}": ["is set by each run (the snapshot, the trigger's model)."]})
    try:
        checked = specs.check_spec(
            user=actor,
            team=team,
            kind=training_kind(train),
            spec={**train, "dataset_version": str(base.pk), "model": str(model.pk)},
        )
    except ValidationError as exc:
        raise ValidationError(
            {key.replace("spec.", "train.", 1): msgs for key, msgs in exc.message_dict.items()}
        ) from None
    except UserError as exc:
        raise exc.with_field(exc.field.replace("spec.", "train.", 1) if exc.field else "train") from None
    return {k: v for k, v in checked.items() if k not in ("dataset_version", "model", "model_name")}


def _checked_promote_if(promote_if, gate: GatePolicy) -> dict:
    promote_if = {"alias": "production"} if promote_if in (None, {}) else promote_if
    if not isinstance(promote_if, dict) or set(promote_if) - {"alias"}:
        raise ValidationError({"promote_if": ['must be an object {"alias": "production"}.']})
    alias = promote_if.get("alias", "production")
    try:
        alias_validator(alias)
    except (ValidationError, TypeError):
        raise ValidationError({"promote_if.alias": [f"{alias!r} is not a valid alias name."]}) from None
    if alias not in gate.aliases:
        raise ValidationError(
            {
                "promote_if.alias": [
                    f"the model's gate does not protect '{alias}' (it protects {', '.join(gate.aliases)})."
                ]
            }
        )
    return {"alias": alias}


@transaction.atomic
def create_trigger(
    *,
    actor: User,
    team: Team,
    model: RegisteredModel,
    base_dataset_version: DatasetVersion,
    min_feedback: int = 100,
    train: dict | None = None,
    promote_if: dict | None = None,
    name: str = "",
    enabled: bool = True,
) -> RetrainTrigger:
    if model.team_id != team.pk:
        raise ValidationError({"model": [f"Model {model.pk} does not exist in team '{team.slug}'."]})
    base = base_dataset_version
    if base.dataset.team_id != team.pk:
        raise ValidationError({"base_dataset_version": [f"Dataset version {base.pk} does not exist."]})
    if base.format not in processing.PROCESSABLE_FORMATS:
        raise ValidationError(
            {"base_dataset_version": [f"feedback snapshots need a CSV or JSONL base; this one is {base.format}."]}
        )
    gate = GatePolicy.objects.filter(model=model).first()
    if gate is None:
        raise ValidationError(
            {"model": [f"model '{model.name}' has no promotion gate; set one (PUT /api/v1/models/{model.pk}/gate/)."]}
        )
    if reason := _needs_architecture(model):
        raise ValidationError({"model": [reason]})
    trigger = RetrainTrigger(
        team=team,
        name=name,
        model=model,
        base_dataset_version=base,
        min_feedback=min_feedback,
        train=_checked_train(actor=actor, team=team, model=model, base=base, train=train or {}),
        promote_if=_checked_promote_if(promote_if, gate),
        enabled=enabled,
        created_by=actor,
    )
    trigger.full_clean(validate_constraints=False)
    trigger.save()
    record_audit(actor=actor, action="trigger.create", team=team, target=trigger, data={"model": str(model.pk)})
    return trigger


@transaction.atomic
def update_trigger(*, actor: User, trigger: RetrainTrigger, **changes) -> RetrainTrigger:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in sorted(unknown)})
    trigger = (
        RetrainTrigger.objects.select_for_update().select_related("model", "base_dataset_version").get(pk=trigger.pk)
    )
    if "train" in changes:
        changes["train"] = _checked_train(
            actor=actor,
            team=trigger.team,
            model=trigger.model,
            base=trigger.base_dataset_version,
            train=changes["train"],
        )
    if "promote_if" in changes:
        gate = GatePolicy.objects.filter(model=trigger.model).first()
        if gate is None:
            raise ValidationError({"promote_if": [f"model '{trigger.model.name}' has no promotion gate."]})
        changes["promote_if"] = _checked_promote_if(changes["promote_if"], gate)
    for field, value in changes.items():
        setattr(trigger, field, value)
    trigger.full_clean(validate_constraints=False)
    trigger.save()
    record_audit(actor=actor, action="trigger.update", team=trigger.team, target=trigger, data=sorted(changes))
    return trigger


@transaction.atomic
def delete_trigger(*, actor: User, trigger: RetrainTrigger) -> None:
    record_audit(actor=actor, action="trigger.delete", team=trigger.team, target=trigger)
    trigger.delete()


# --- runs ----------------------------------------------------------------------------------------------


def _start_run(trigger: RetrainTrigger, *, until, count: int) -> TriggerRun:
    run = TriggerRun.objects.create(trigger=trigger, feedback_until=until, feedback_count=count, step="snapshot")
    trigger.feedback_seen_until = until
    trigger.save(update_fields=["feedback_seen_until"])
    creator = trigger.created_by
    role = role_of(user=creator, team=trigger.team) if creator is not None else None
    if role not in (Role.MAINTAINER, Role.ADMIN):  # a run acts for its creator, who must still be allowed to
        _end(run, RunStatus.FAILED, error="the trigger's creator is no longer a maintainer or admin of the team")
        return run
    if reason := _needs_architecture(trigger.model):  # its first versions were brought after it was made
        _end(run, RunStatus.FAILED, error=reason)
        return run
    try:
        with transaction.atomic():
            submit_job(
                actor=trigger.created_by,
                team=trigger.team,
                kind=JobKind.SNAPSHOT,
                spec={
                    "dataset_version": str(trigger.base_dataset_version_id),
                    "model": str(trigger.model_id),
                    "until": until.isoformat(),
                    "description": f"feedback snapshot for retrain trigger {trigger.name or trigger.pk}",
                },
                trigger_run=run,
            )
    except Exception as exc:  # the creator left the team, the base was deleted...: the run ends at once
        _end(run, RunStatus.FAILED, error=f"could not start the snapshot: {error_text(exc)}")
    return run


@transaction.atomic
def fire(*, actor: User, trigger: RetrainTrigger) -> TriggerRun:
    """Start a run now, whatever the amount of new feedback (there must be some labelled predictions)."""
    trigger = RetrainTrigger.objects.select_for_update().get(pk=trigger.pk)
    if trigger.runs.filter(status=RunStatus.RUNNING).exists():
        raise Conflict("A run of this trigger is still going; wait for it to end.")
    if reason := _needs_architecture(trigger.model):
        raise Conflict(reason)
    now = timezone.now()
    if not feedback.labelled_count(model=trigger.model_id, until=now):
        raise Conflict("The model has no labelled predictions yet; there is nothing to retrain on.")
    count = feedback.labelled_count(model=trigger.model_id, since=trigger.feedback_seen_until, until=now)
    record_audit(actor=actor, action="trigger.fire", team=trigger.team, target=trigger)
    return _start_run(trigger, until=now, count=count)


def check_triggers(*, now=None) -> list[str]:
    """The periodic look: start a run of every enabled trigger, not already running, whose model got at
    least `min_feedback` labelled predictions since its last run. Returns the ids of the runs started."""
    started = []
    now = now or timezone.now()
    with transaction.atomic():
        running = TriggerRun.objects.filter(status=RunStatus.RUNNING).values("trigger_id")
        due = (
            RetrainTrigger.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(enabled=True)
            .exclude(pk__in=running)
            .select_related("team", "created_by")
        )
        for trigger in due:
            count = feedback.labelled_count(model=trigger.model_id, since=trigger.feedback_seen_until, until=now)
            trigger.last_checked_at = now
            trigger.save(update_fields=["last_checked_at"])
            if count < trigger.min_feedback:
                continue
            try:
                with transaction.atomic():
                    started.append(str(_start_run(trigger, until=now, count=count).pk))
            except IntegrityError:  # another checker started this trigger's run a moment ago
                log.info("trigger %s already has a running run", trigger.pk)
    if started:
        log.info("retrain triggers started %d run(s): %s", len(started), ", ".join(started))
    return started


def _end(run: TriggerRun, status: str, *, error: str = "", checks: list | None = None) -> None:
    run.status, run.error, run.finished_at = status, error[:2000], timezone.now()
    run.gate_checks = checks or []
    run.step = "done" if status != RunStatus.FAILED else run.step
    run.save(update_fields=["status", "error", "finished_at", "gate_checks", "step"])


def job_ended(job: Job) -> None:
    """The services' job-end hook: a job that is a step of a retrain run hands over to the run's next step."""
    if job.trigger_run_id:
        advance(job)


def advance(job: Job) -> None:
    """The step `job` belongs to has ended: submit the next step or end the run. Runs inside the transaction
    that ended the job; a problem here ends the run as failed and never undoes the job's end."""
    try:
        with transaction.atomic():
            run = (
                TriggerRun.objects.select_for_update(of=("self",))
                .select_related("trigger__team", "trigger__created_by")
                .get(pk=job.trigger_run_id)
            )
            if run.status != RunStatus.RUNNING:
                return
            if job.status != JobStatus.SUCCEEDED:
                error = f"the {job.kind} job {job.pk} {job.status}: {job.error or 'no error'}"
                _end(run, RunStatus.FAILED, error=error)
                return
            _next_step(run, job)
    except Exception as exc:  # a spec that no longer holds, a deleted model, a bug: the run ends, the job stays
        log.warning("retrain run %s stopped after job %s", job.trigger_run_id, job.pk, exc_info=True)
        error = f"could not go on after the {job.kind} job: {error_text(exc)}"
        TriggerRun.objects.filter(pk=job.trigger_run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
        )


def _next_step(run: TriggerRun, job: Job) -> None:
    trigger = run.trigger
    actor = trigger.created_by
    if job.kind == JobKind.SNAPSHOT:
        run.dataset_version_id = job.outputs["dataset_version"]
        run.step = "train"
        run.save(update_fields=["dataset_version", "step"])
        spec = {**trigger.train, "dataset_version": job.outputs["dataset_version"], "model": str(trigger.model_id)}
        spec.setdefault("description", f"retrained by trigger {trigger.name or trigger.pk} on feedback")
        submit_job(actor=actor, team=trigger.team, kind=training_kind(trigger.train), spec=spec, trigger_run=run)
    elif job.kind in (JobKind.TRAIN, JobKind.FINETUNE):
        gate = GatePolicy.objects.get(model_id=trigger.model_id)
        run.model_version_id = job.outputs["model_version"]
        run.step = "evaluate"
        run.save(update_fields=["model_version", "step"])
        spec = {
            "model_version": job.outputs["model_version"],
            "dataset_version": str(gate.dataset_version_id),
            "split": gate.split,
        }
        submit_job(actor=actor, team=trigger.team, kind=JobKind.EVALUATE, spec=spec, trigger_run=run)
    elif job.kind == JobKind.EVALUATE:
        run.step = "promote"
        version = ModelVersion.objects.select_related("model__team").get(pk=run.model_version_id)
        alias = trigger.promote_if.get("alias", "production")
        if not gates.protects(model=version.model, alias=alias):  # the gate was removed or changed meanwhile
            detail = f"the model's gate no longer protects '{alias}'; a run promotes only through a gate"
            _end(run, RunStatus.NOT_PROMOTED, error=detail, checks=[{"check": "gate", "detail": detail}])
            return
        try:
            model_services.set_alias(actor=actor, model=version.model, alias=alias, version=version)
        except Conflict as exc:
            _end(run, RunStatus.NOT_PROMOTED, error=exc.message, checks=exc.checks)
            return
        _end(run, RunStatus.PROMOTED)
