"""Every write of models_app: registered models, versions (uploaded or produced by jobs) and aliases."""

import json
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from accounts_app.models import Role, Team, User
from accounts_app.names import duplicate_name, named, update_named
from accounts_app.selectors import ensure_role
from accounts_app.services import record_audit
from config.errors import Conflict, UserError, error_text
from config.jsonsafe import unsafe_text
from datasets_app import blobs, retention
from datasets_app.models import Blob, DatasetVersion, Task
from ml import inference
from ml.artifacts import (
    ArtifactError,
    check_upload_format,
    check_weights_fit_spec,
    inspect_onnx,
    inspect_safetensors,
    validate_spec,
)
from ml.names import clean_name
from models_app import gates, leakage
from models_app.models import (
    MAX_CARD_CHARS,
    NO_TASK,
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionFile,
    PredictionLog,
    RegisteredModel,
    Split,
    VersionStatus,
    WeightsFormat,
)

EDITABLE_FIELDS = {"name", "description", "card"}


def _check_card(card) -> None:
    if card is not None and len(card) > MAX_CARD_CHARS:
        raise ValidationError({"card": [f"The model card is {len(card)} characters; at most {MAX_CARD_CHARS}."]})


AUDITED_VALUES = {"name"}  # description and card may be long: only their change is noted


@transaction.atomic
def create_model(
    *, actor: User, team: Team, name: str, task: str, description: str = "", card: str = ""
) -> RegisteredModel:
    """A new model of `team`; audited. `name` must be printable and is stored in NFC (UserError on `name`);
    a name the team already has, in any case, is a 400 on `name`."""
    name = clean_name(name, max_length=200)
    _check_card(card)
    if twin := named(RegisteredModel.objects.filter(team=team), name).first():
        raise duplicate_name(team, twin.name, "model")
    model = RegisteredModel(team=team, name=name, task=task, description=description, card=card, created_by=actor)
    model.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError as exc:
        raise duplicate_name(team, name, "model") from exc
    record_audit(actor=actor, action="model.create", team=team, target=model, data={"name": name})
    return model


@transaction.atomic
def update_model(*, actor: User, model: RegisteredModel, **changes) -> RegisteredModel:
    """Change the EDITABLE_FIELDS given in `changes`; audited as `model.update` with the fields that changed
    (`fields`) and the old and new name. The name rules of `create_model` apply; a `card` (Markdown) longer than
    MAX_CARD_CHARS is a 400 on `card`."""
    _check_card(changes.get("card"))
    model, audit = update_named(model, changes, noun="model", editable=EDITABLE_FIELDS, audited_values=AUDITED_VALUES)
    if audit:
        record_audit(actor=actor, action="model.update", team=model.team, target=model, data=audit)
    return model


@transaction.atomic
def delete_model(*, actor: User, model: RegisteredModel, now=None) -> None:
    """Soft delete (datasets_app.retention): the model, its versions, aliases and serving are gone from the API
    at once and purged after ECO_RETENTION_DAYS (`purge_deleted_models`) unless a staff user restores them
    first; audited as `model.delete`. Conflict (409) while something still uses it, as before."""
    retention.soft_delete(actor=actor, obj=model, noun="model", now=now)


@transaction.atomic
def restore_model(*, actor: User, model: RegisteredModel, now=None) -> RegisteredModel:
    """Bring a deleted model back within ECO_RETENTION_DAYS; audited as `model.restore`. Conflict (409) past
    the period, or when the team has made another model of the same name since."""
    return retention.restore(actor=actor, obj=model, noun="model", now=now)


def purge_deleted_models(*, now=None) -> list[str]:
    """Delete for good the models deleted more than ECO_RETENTION_DAYS ago, with their versions; their blobs
    go when nothing else refers to them. Run by the reaper's round."""
    return retention.purge_expired(
        model=RegisteredModel,
        noun="model",
        blob_ids=lambda model: (
            set(ModelVersion.objects.filter(model=model).values_list("blob_id", flat=True))
            | set(ModelVersionFile.objects.filter(model_version__model=model).values_list("blob_id", flat=True))
        ),
        now=now,
    )


def register_version(
    *,
    actor: User | None,
    model: RegisteredModel,
    weights_path: str | Path,
    weights: File,
    spec,
    sha256: str | None = None,
    metrics: dict | None = None,
    params: dict | None = None,
    dataset_versions: Iterable[DatasetVersion] = (),
    description: str = "",
    from_job: bool = False,
    parent: ModelVersion | None = None,
    fmt: str = WeightsFormat.SAFETENSORS,
    run=None,
    linked_files: Iterable[tuple[str, Blob]] = (),
    tags: dict | None = None,
    source: str = "",
) -> ModelVersion:
    """Validate weights + spec and record them as the model's next version: safetensors with an architecture
    spec, or a brought ONNX graph with its serving spec (`ml.inference.check_serving_spec`, checked by
    `ml.artifacts.inspect_onnx`). Other ONNX and TorchScript files come only from Eco's own export and quantize
    jobs (`from_job`), which check them by running them; they keep the spec (the input preprocessing) and
    parameter count of their `parent`. The job that made a version is recorded by jobs_app (JobOutput), not
    here; `run`, the id of a tracking run that made an uploaded version, goes to the recorder jobs_app
    registered (`on_version_from_run`) in the same transaction. `linked_files` are stored files the version
    also holds under their names (an ONNX export of a fine-tuned checkpoint: the checkpoint's tokenizer files).
    Raises UserError / ValidationError (400) naming the field; nothing is stored then."""
    if fmt == WeightsFormat.SAFETENSORS:
        try:
            facts = inspect_safetensors(weights_path)
        except ArtifactError as exc:
            raise exc.prefixed("weights") from None
        try:
            spec = validate_spec(spec)
        except ArtifactError as exc:
            raise exc.prefixed("spec") from None
    elif from_job:
        if parent is None:
            raise ValidationError({"format": [f"a {fmt} version made by a job needs its parent version."]})
        facts = {"tensors": {}, "num_parameters": parent.num_parameters}
        if not is_checkpoint_spec(spec):  # a checkpoint's spec describes a transformers model, not Eco's
            try:
                spec = validate_spec(spec)
            except ArtifactError as exc:
                raise exc.prefixed("spec") from None
    elif fmt == WeightsFormat.ONNX:
        try:
            spec = inference.check_serving_spec(_json_object(spec))
        except UserError as exc:
            raise exc.prefixed("spec") from None
        if model.task != NO_TASK and spec["task"] != model.task:
            raise ValidationError(
                {"spec.task": [f"model '{model.name}' is a {model.task} model; this spec is {spec['task']}."]}
            )
        try:
            facts = inspect_onnx(weights_path, spec)
        except ArtifactError as exc:
            raise exc.prefixed("weights") from None
    else:
        raise ValidationError({"format": [f"{fmt} files run code when loaded; Eco accepts safetensors or ONNX."]})
    for field, value in (("weights", facts), ("spec", spec), ("metrics", metrics), ("params", params)):
        if problem := unsafe_text(value, field):
            raise ValidationError({field: [f"{problem}."]})
    try:
        if fmt == WeightsFormat.SAFETENSORS:
            check_weights_fit_spec(spec, facts["tensors"])
    except ArtifactError as exc:
        raise exc.prefixed("weights") from None
    if sha256 is None:
        sha256, _ = blobs.hash_path(weights_path)
    size = Path(weights_path).stat().st_size
    return _record_version(
        actor=actor,
        model=model,
        files=[(None, weights, sha256, size)],
        fmt=fmt,
        spec=spec,
        facts=facts,
        metrics=metrics,
        params=params,
        dataset_versions=dataset_versions,
        description=description,
        parent=parent,
        run=run,
        linked=linked_files,
        tags=tags,
        source=source,
    )


def is_checkpoint_spec(spec) -> bool:
    """Whether `spec` is a Hugging Face checkpoint's (an hf version's, or one of its ONNX exports'), which no
    Eco architecture check applies to."""
    return isinstance(spec, dict) and (
        spec.get("format") == WeightsFormat.HF or (spec.get("preprocessing") or {}).get("tokenizer") == "hf"
    )


def _record_version(
    *,
    actor,
    model: RegisteredModel,
    files: list[tuple[str | None, File, str, int]],
    fmt: str,
    spec: dict,
    facts: dict,
    metrics,
    params,
    dataset_versions,
    description: str,
    parent,
    run,
    linked: Iterable[tuple[str, Blob]] = (),
    blob: Blob | None = None,
    tags: dict | None = None,
    source: str = "",
) -> ModelVersion:
    """Store checked files and record them as the model's next version, in one transaction: nothing stays
    behind when any step fails. `files` are `(name in the folder or None, content, sha256, size)`, the
    version's own blob (its weights) first, or none with `blob`, a stored blob that is; named files become
    ModelVersionFile rows, as do the `linked` (name, stored blob) pairs, whose rows are locked so that no
    collection removes them meanwhile."""
    dataset_versions = list(dataset_versions)
    for dv in dataset_versions:
        if dv.dataset.team_id != model.team_id:
            raise ValidationError({"dataset_versions": [f"Dataset version {dv.pk} does not exist."]})
    with transaction.atomic(), ExitStack() as stack:
        stored = [stack.enter_context(blobs.stored(content, sha256=sha, size=size)) for _, content, sha, size in files]
        if blob is not None:
            stored.insert(0, Blob.objects.select_for_update().get(pk=blob.pk))
            files = [(None, None, blob.pk, blob.size_bytes), *files]
        locked = RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
        if locked is None:  # deleted while the files were being checked
            raise Http404("The model no longer exists.")
        if locked.task == NO_TASK and isinstance(spec, dict) and spec.get("task") in Task.values:
            locked.task = spec["task"]  # a model registered through MLflow takes its first served version's task
            locked.save(update_fields=["task"])
            model.task = locked.task
        number = (locked.versions.aggregate(n=Max("version"))["n"] or 0) + 1
        version = ModelVersion.objects.create(
            model=locked,
            version=number,
            format=fmt,
            blob=stored[0],
            spec=spec,
            tensors=facts["tensors"],
            num_parameters=facts["num_parameters"],
            metrics=metrics or {},
            params=params or {},
            description=description,
            tags=tags or {},
            source=source,
            parent=parent,
            created_by=actor,
        )
        linked = list(linked)
        if linked and Blob.objects.select_for_update().filter(pk__in=[b.pk for _, b in linked]).count() != len(
            {b.pk for _, b in linked}
        ):
            raise RuntimeError("a linked file's blob is gone")  # pragma: no cover - needs a concurrent purge
        ModelVersionFile.objects.bulk_create(
            [
                ModelVersionFile(model_version=version, name=name, blob=blob)
                for (name, *_), blob in zip(files, stored, strict=True)
                if name is not None
            ]
            + [ModelVersionFile(model_version=version, name=name, blob=blob) for name, blob in linked]
        )
        ModelVersionDataset.objects.bulk_create(
            [ModelVersionDataset(model_version=version, dataset_version=dv) for dv in dataset_versions]
        )
        if run is not None:
            if _run_recorder is None:  # jobs_app registers it when the app registry is ready
                raise RuntimeError("no recorder of run outputs is registered (jobs_app not installed?)")
            _run_recorder(actor=actor, team=locked.team, run_id=run, version=version)
        RegisteredModel.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return version


def register_checkpoint(
    *,
    actor: User | None,
    model: RegisteredModel,
    folder: str | Path,
    hashes: dict[str, str] | None = None,
    spec_extra: dict | None = None,
    metrics: dict | None = None,
    params: dict | None = None,
    dataset_versions: Iterable[DatasetVersion] = (),
    description: str = "",
    parent: ModelVersion | None = None,
    run=None,
    lora: dict | None = None,
    merged_parameters: int | None = None,
) -> ModelVersion:
    """Check the Hugging Face checkpoint in `folder` (`ml.hf.inspect_checkpoint`: no code run, no tensor
    loaded) and record it as the model's next version of format `hf`, each kept file a blob (`files` of the
    version), the weights file as the version's blob. `hashes` gives the sha256 of files already hashed while
    they streamed in; `spec_extra` is merged into the checked spec (a fine-tuned version's labels and
    lineage). With `lora` (a fine-tune's checked LoRA settings) the folder holds a LoRA adapter on `parent`
    (`ml.hf.inspect_adapter`), merged on its base when loaded (`checkpoints.local_folder`); `merged_parameters`
    is then the merged network's parameter count. Raises
    CheckpointError (400 on `files`) naming the problem; nothing is stored then."""
    from ml.hf import inspect_adapter, inspect_checkpoint

    if model.task not in (Task.TEXT_CLASSIFICATION, NO_TASK):
        raise ValidationError(
            {
                "model": [
                    f"model '{model.name}' is a {model.task} model; a checkpoint goes to a text-classification "
                    "model (Eco fine-tunes encoders for text classification)."
                ]
            }
        )
    folder = Path(folder)
    if lora is not None:
        if parent is None or merged_parameters is None:
            raise ValueError("an adapter is registered on its base version (parent), with the merged size")
        facts = inspect_adapter(folder, lora=lora, num_parameters=merged_parameters)
    else:
        facts = inspect_checkpoint(folder)
    spec = {**facts["spec"], **(spec_extra or {})}
    for field, value in (("files", facts["tensors"]), ("spec", spec), ("metrics", metrics), ("params", params)):
        if problem := unsafe_text(value, field):
            raise ValidationError({field: [f"{problem}."]})
    hashes = hashes or {}
    ordered = spec["weights"][:1] + [n for n in facts["files"] if n != spec["weights"][0]]
    with ExitStack() as stack:
        files = []
        for name in ordered:
            path = folder / name
            sha = hashes.get(name) or blobs.hash_path(path)[0]
            files.append((name, File(stack.enter_context(open(path, "rb")), name=name), sha, path.stat().st_size))
        return _record_version(
            actor=actor,
            model=model,
            files=files,
            fmt=WeightsFormat.HF,
            spec=spec,
            facts=facts,
            metrics=metrics,
            params={**(params or {}), **({"skipped_files": facts["skipped"]} if facts["skipped"] else {})},
            dataset_versions=dataset_versions,
            description=description,
            parent=parent,
            run=run,
        )


_run_recorder = None


def on_version_from_run(recorder) -> None:
    """Register `recorder(*, actor, team, run_id, version)`, which records that the tracking run `run_id` made
    `version` (or raises a UserError / ValidationError on `job`, undoing the registration). jobs_app registers
    it in its AppConfig.ready: the apps below jobs_app never import it."""
    global _run_recorder
    _run_recorder = recorder


def _json_object(spec):
    if isinstance(spec, (str, bytes)):
        try:
            return json.loads(spec)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise UserError(f"the spec is not valid JSON: {exc}") from None
    return spec


def create_version_from_upload(
    *,
    actor: User,
    model: RegisteredModel,
    weights,
    spec,
    metrics=None,
    params=None,
    dataset_versions=(),
    description: str = "",
    fmt: str = WeightsFormat.SAFETENSORS,
    run=None,
) -> ModelVersion:
    """A version from an uploaded file (`weights`, an UploadedFile on disk) of the declared `fmt`
    ("safetensors" or "onnx"), checked by its content first: TorchScript archives, pickles and any file that is
    not `fmt` are refused (400 on `weights`) before anything is stored. See `register_version`."""
    path = weights.temporary_file_path()
    try:
        check_upload_format(path, fmt)
    except ArtifactError as exc:
        raise (exc if exc.field else exc.prefixed("weights")) from None
    return register_version(
        actor=actor,
        model=model,
        weights_path=path,
        weights=weights,
        spec=spec,
        sha256=getattr(weights, "sha256", None),
        metrics=metrics,
        params=params,
        dataset_versions=dataset_versions,
        description=description,
        fmt=fmt,
        run=run,
    )


def import_checkpoint(
    *,
    actor: User,
    model: RegisteredModel,
    files=(),
    archive=None,
    description: str = "",
    metrics: dict | None = None,
    params: dict | None = None,
) -> ModelVersion:
    """A version of format `hf` from an uploaded Hugging Face checkpoint: `files`, the folder's files
    (UploadedFiles on disk, named as in the folder), or `archive`, one .zip / .tar(.gz) of it. The files are
    linked (not copied) into a folder, an archive is unpacked in constant memory, then `register_checkpoint`
    checks and stores them. Raises UserError / ValidationError (400 on `files` or `archive`) naming the problem;
    nothing is stored then."""
    import tempfile

    from django.conf import settings

    from ml.hf import CheckpointError, unpack_archive

    if bool(files) == (archive is not None):
        raise ValidationError({"files": ["Send the checkpoint's files, or one archive of them (archive), not both."]})
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        folder = Path(tmp)
        hashes = {}
        if archive is not None:
            unpack_archive(archive.temporary_file_path(), folder, max_bytes=settings.ECO_MAX_UPLOAD_BYTES)
        else:
            for upload in files:
                name = Path(upload.name).name
                if not name or (folder / name).exists():
                    raise CheckpointError(f"two files are named {name!r}; send each file once", field="files")
                (folder / name).symlink_to(upload.temporary_file_path())
                if getattr(upload, "sha256", None):
                    hashes[name] = upload.sha256
        return register_checkpoint(
            actor=actor,
            model=model,
            folder=folder,
            hashes=hashes,
            metrics=metrics,
            params=params,
            description=description,
        )


@transaction.atomic
def set_version_status(*, actor: User, version: ModelVersion, status: str) -> ModelVersion:
    """Archive a version or bring it back (`status` is a VersionStatus); audited as `model_version.archive` or
    `model_version.restore`. A version an alias points at cannot be archived: Conflict (409) naming the aliases."""
    if status not in VersionStatus.values:
        raise ValidationError({"status": [f"Use one of {', '.join(VersionStatus.values)}."]})
    version = ModelVersion.objects.select_for_update().select_related("model__team").get(pk=version.pk)
    if version.status == status:
        return version
    held = sorted(version.aliases.values_list("alias", flat=True))
    if status == VersionStatus.ARCHIVED and held:
        raise Conflict(f"v{version.version} is held by {', '.join(held)}; move the alias first.", checks=held)
    version.status = status
    version.save(update_fields=["status"])
    record_audit(
        actor=actor,
        action="model_version.archive" if status == VersionStatus.ARCHIVED else "model_version.restore",
        team=version.model.team,
        target=version,
        data={"model": str(version.model_id), "version": version.version},
    )
    return version


def set_alias(
    *, actor: User, model: RegisteredModel, alias: str, version: ModelVersion, force: bool = False, reason: str = ""
) -> ModelAlias:
    """Point `alias` at `version` if the model's promotion gate lets it: otherwise Conflict (409) whose `checks`
    are the failed checks of `gates.report` (each {name, check, passed: false, detail, ...measured values}).
    A team admin may `force` a move past a failing gate with a non-empty `reason` (400 on `reason` without
    one); the force, the failed checks and the reason are audited as `alias.force`."""
    alias = clean_name(alias, field="alias", max_length=50)
    if version.model_id == model.pk:  # the leakage check's row hashes, stored even when the move is refused
        leakage.warm(model=model, version=version, alias=alias)
    return _move_alias(actor=actor, model=model, alias=alias, version=version, force=force, reason=reason)


@transaction.atomic
def _move_alias(
    *, actor: User, model: RegisteredModel, alias: str, version: ModelVersion, force: bool, reason: str
) -> ModelAlias:
    if version.model_id != model.pk:
        raise ValidationError({"version": [f"Version {version.pk} is not a version of model '{model.name}'."]})
    if force:
        ensure_role(user=actor, team=model.team, minimum=Role.ADMIN)
        if not (reason or "").strip():  # a force is audited; an empty reason tells the next reader nothing
            raise ValidationError({"reason": ["A forced move needs a reason (it is kept in the audit trail)."]})
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)  # one alias move at a time per model
    failed = gates.failed_checks(model=model, version=version, alias=alias)
    if failed and not force:
        raise Conflict(
            f"v{version.version} did not pass the promotion gate for '{alias}': "
            + "; ".join(check["detail"] for check in failed),
            checks=failed,
        )
    current = ModelAlias.objects.filter(model=model, alias=alias).first()
    previous = current.version_id if current else None
    if current is None:
        current = ModelAlias(model=model, alias=alias)
    current.version = version
    current.updated_by = actor
    current.updated_at = timezone.now()
    current.full_clean(validate_constraints=False)
    current.save()
    data = {
        "model": str(model.pk),
        "alias": alias,
        "version": str(version.pk),
        "previous": str(previous) if previous else None,
    }
    if failed:
        data.update(failed_checks=failed, reason=reason)
    record_audit(
        actor=actor, action="alias.force" if failed else "alias.set", team=model.team, target=current, data=data
    )
    return current


@transaction.atomic
def delete_alias(*, actor: User, alias: ModelAlias) -> None:
    """Remove an alias. One the model's gate protects takes a team admin: removing it would stop serving and let
    the next promotion skip the comparison with the version that held it."""
    if gates.protects(model=alias.model, alias=alias.alias):
        ensure_role(user=actor, team=alias.model.team, minimum=Role.ADMIN)
    record_audit(
        actor=actor,
        action="alias.delete",
        team=alias.model.team,
        target=alias,
        data={"model": str(alias.model_id), "alias": alias.alias, "version": str(alias.version_id)},
    )
    alias.delete()


HEADLINE_METRICS = ("accuracy", "r2")


def record_evaluation(
    *,
    actor: User | None,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    split: str,
    metrics: dict,
    num_rows: int,
) -> Evaluation:
    """Store an evaluation's metrics; its score is the headline metric (accuracy, or R² for regression)."""
    metric = next((m for m in HEADLINE_METRICS if m in metrics), "")
    if problem := unsafe_text(metrics, "metrics"):
        raise ValidationError({"metrics": [f"{problem}."]})
    return Evaluation.objects.create(
        model_version=model_version,
        dataset_version=dataset_version,
        split=split,
        metric=metric,
        score=metrics.get(metric),
        metrics=metrics,
        num_rows=num_rows,
        created_by=actor,
    )


@transaction.atomic
def set_gate(
    *,
    actor: User,
    model: RegisteredModel,
    dataset_version: DatasetVersion,
    metric: str | None = None,
    direction: str | None = None,
    split: str = Split.ALL,
    min_gain: float = 0.0,
    max_overlap: int = 0,
    required_card_fields: list[str] | None = None,
    aliases: list[str] | None = None,
) -> GatePolicy:
    """Create or replace the model's promotion gate; audited. `max_overlap`: how many distinct rows of the
    pinned set a candidate's training data may share (the `leakage` check; 400 on it when negative)."""
    if not model.task:
        problem = (
            f"model '{model.name}' has no task yet (registered through MLflow): its first served version gives one."
        )
        raise ValidationError({"model": [problem]})
    known = gates.metrics_for_task(model.task)
    metric = metric or next(iter(known))
    if metric not in known:
        raise ValidationError({"metric": [f"'{metric}' is not a {model.task} metric; use one of {', '.join(known)}."]})
    direction = direction or known[metric]
    if dataset_version.dataset.team_id != model.team_id:
        raise ValidationError({"dataset_version": [f"Dataset version {dataset_version.pk} does not exist."]})
    if (dataset_version.dataset.task == "regression") != (model.task == "regression"):
        raise ValidationError(
            {
                "dataset_version": [
                    f"The model is a {model.task} model; this data set is {dataset_version.dataset.task}."
                ]
            }
        )
    gate = GatePolicy.objects.filter(model=model).first() or GatePolicy(model=model)
    gate.metric, gate.direction, gate.dataset_version, gate.split = metric, direction, dataset_version, split
    gate.min_gain = float(min_gain)
    if isinstance(max_overlap, bool) or not isinstance(max_overlap, int) or max_overlap < 0:
        raise ValidationError({"max_overlap": ["must be a whole number of rows, 0 or more."]})
    gate.max_overlap = max_overlap
    gate.required_card_fields = [" ".join(name.split()) for name in (required_card_fields or [])]
    gate.aliases = list(dict.fromkeys(aliases or ["production"]))
    gate.updated_by, gate.updated_at = actor, timezone.now()
    gate.full_clean(validate_constraints=False, exclude=["model"])
    gate.save()
    record_audit(
        actor=actor,
        action="gate.set",
        team=model.team,
        target=gate,
        data={
            "metric": gate.metric,
            "direction": gate.direction,
            "dataset_version": str(gate.dataset_version_id),
            "split": gate.split,
            "min_gain": gate.min_gain,
            "max_overlap": gate.max_overlap,
            "required_card_fields": gate.required_card_fields,
            "aliases": gate.aliases,
        },
    )
    return gate


@transaction.atomic
def delete_gate(*, actor: User, gate: GatePolicy) -> None:
    record_audit(
        actor=actor, action="gate.delete", team=gate.model.team, target=gate, data={"model": str(gate.model_id)}
    )
    gate.delete()


@transaction.atomic
def record_feedback(*, actor: User, prediction: PredictionLog, label) -> PredictionLog:
    """The true label of a served prediction (given again, it replaces the earlier one)."""
    spec = ModelVersion.objects.filter(pk=prediction.model_version_id).values_list("spec", flat=True).get()
    try:
        value = inference.check_label(spec, label)
    except inference.InputError as exc:
        raise UserError(exc.message, field="label") from None
    prediction = PredictionLog.objects.select_for_update().get(pk=prediction.pk)
    prediction.feedback, prediction.feedback_by, prediction.feedback_at = value, actor, timezone.now()
    prediction.save(update_fields=["feedback", "feedback_by", "feedback_at"])
    return prediction


# --- MLflow's model registry (mlflow_app) --------------------------------------------------------------


def register_mlflow_version(
    *,
    actor: User,
    model: RegisteredModel,
    files: list[tuple[str, Blob]],
    source: str,
    run=None,
    description: str = "",
    tags: dict | None = None,
) -> ModelVersion:
    """The model's next version from an MLflow model folder: `files`, (name in the folder, stored blob) pairs,
    one of them the `MLmodel` file (ml.mlflow_models). An ONNX model whose signature gives its inputs becomes
    an `onnx` version with that serving spec, checked and run as any brought graph (`register_version`), its
    other files kept beside it; a model of no task takes the spec's. Any other model (a pickled flavour, or an
    ONNX model Eco cannot serve) is stored as an opaque `mlflow` version: its MLmodel file is the version's blob,
    every file a ModelVersionFile, its spec `{"mlflow": {"flavors", "served": false, "reason"}}`. Nothing is
    copied: the versions share the blobs. Raises ValidationError on `source` when there is no MLmodel file."""
    from ml import mlflow_models

    by_name = dict(files)
    mlmodel_blob = by_name.get(mlflow_models.MLMODEL)
    if mlmodel_blob is None:
        raise ValidationError({"source": [f"{source} holds no MLmodel file: it is not an MLflow model folder."]})
    with blobs.open_blob(mlmodel_blob) as handle:
        data = handle.read(mlflow_models.MAX_MLMODEL_BYTES + 1)
    try:
        mlmodel = mlflow_models.read_mlmodel(data)
    except UserError as exc:
        raise exc.prefixed("source") from None
    if problem := unsafe_text(mlmodel, "MLmodel"):  # what PostgreSQL's JSON cannot hold (a NUL, a lone surrogate)
        raise ValidationError({"source": [f"{problem}."]})
    flavors = mlflow_models.flavors(mlmodel)
    common = {"actor": actor, "model": model, "run": run, "description": description, "tags": tags, "source": source}
    try:
        spec = inference.check_serving_spec(mlflow_models.serving_spec(mlmodel, task=model.task or None))
        graph = mlflow_models.onnx_file(mlmodel)
        if graph not in by_name:
            raise mlflow_models.NotServable(f"the folder has no file {graph}, which its MLmodel names")
        with blobs.local_copy(by_name[graph]) as path, open(path, "rb") as handle:
            return register_version(
                weights_path=path,
                weights=File(handle, name=graph),
                spec=spec,
                sha256=by_name[graph].pk,
                fmt=WeightsFormat.ONNX,
                linked_files=[(name, blob) for name, blob in files if name != graph],
                params={"mlflow_flavors": flavors},
                **common,
            )
    except (UserError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and "job" in getattr(exc, "error_dict", {}):
            raise  # the run's lineage was refused: not a reason to store the model unserved
        reason = error_text(exc)
    spec = {"mlflow": {"flavors": flavors, "served": False, "reason": reason}}
    return _record_version(
        files=[],
        blob=mlmodel_blob,
        fmt=WeightsFormat.MLFLOW,
        spec=spec,
        facts={"tensors": {}, "num_parameters": 0},
        metrics=None,
        params={"mlflow_flavors": flavors},
        dataset_versions=(),
        parent=None,
        linked=files,
        **common,
    )


@transaction.atomic
def set_tags(*, actor: User, obj: RegisteredModel | ModelVersion, tags: dict | None = None, delete: str | None = None):
    """Set `tags` ({key: string}) on a model or a version, or `delete` one key (absent: nothing happens);
    audited as `model.tags` with the keys changed."""
    locked = type(obj).objects.select_for_update().get(pk=obj.pk)
    changed = dict(tags or {})
    if problem := unsafe_text(changed, "tags"):
        raise ValidationError({"tags": [f"{problem}."]})
    locked.tags = {**locked.tags, **changed}
    if delete is not None:
        locked.tags.pop(delete, None)
    locked.save(update_fields=["tags"])
    model = locked if isinstance(locked, RegisteredModel) else locked.model
    record_audit(
        actor=actor,
        action="model.tags",
        team=model.team,
        target=locked,
        data={"set": sorted(changed), "deleted": [delete] if delete is not None else []},
    )
    obj.tags = locked.tags
    return obj


@transaction.atomic
def update_version_description(*, actor: User, version: ModelVersion, description: str) -> ModelVersion:
    """Change a version's description (its weights, spec and lineage never change); audited."""
    ModelVersion.objects.filter(pk=version.pk).update(description=description)
    version.description = description
    record_audit(
        actor=actor,
        action="model_version.update",
        team=version.model.team,
        target=version,
        data={"model": str(version.model_id), "version": version.version, "fields": ["description"]},
    )
    return version
