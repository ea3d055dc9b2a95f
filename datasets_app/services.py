"""Every write of datasets_app: datasets and their immutable, numbered versions."""

import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.names import duplicate_name, named, update_named
from accounts_app.services import record_audit
from config.jsonsafe import unsafe_text
from datasets_app import blobs, bundled, retention, selectors
from datasets_app.models import Dataset, DatasetLineage, DatasetVersion, Source, Task
from ml import formats, stats
from ml.errors import Conflict, UserError
from ml.formats.csv import StreamInspector
from ml.names import clean_name

EDITABLE_FIELDS = {"name", "description", "sensitivity", "license", "task"}
AUDITED_VALUES = {"name", "sensitivity", "license", "task"}  # the description may be long: only its change is noted


@transaction.atomic
def create_dataset(
    *,
    actor: User,
    team: Team,
    name: str,
    task: str,
    description: str = "",
    sensitivity: str = "internal",
    license: str = "",
) -> Dataset:
    """A new dataset of `team`; audited. `name` must be printable and is stored in NFC (UserError on `name`);
    a name the team already has, in any case, is a 400 on `name`."""
    name = clean_name(name, max_length=200)
    if twin := named(Dataset.objects.filter(team=team), name).first():
        raise duplicate_name(team, twin.name, "dataset")
    dataset = Dataset(
        team=team,
        name=name,
        task=task,
        description=description,
        sensitivity=sensitivity,
        license=license,
        created_by=actor,
    )
    dataset.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:
        raise duplicate_name(team, name, "dataset") from exc
    record_audit(actor=actor, action="dataset.create", team=team, target=dataset, data={"name": name})
    return dataset


@transaction.atomic
def update_dataset(*, actor: User, dataset: Dataset, **changes) -> Dataset:
    """Change the EDITABLE_FIELDS given in `changes`; audited as `dataset.update` with the fields that changed
    (`fields`) and, for the short ones, their old and new values. The name rules of `create_dataset` apply; the
    task is fixed once a version exists."""

    def task_fixed(locked: Dataset, changes: dict) -> None:
        if "task" in changes and changes["task"] != locked.task and locked.versions.exists():
            raise ValidationError({"task": ["The task cannot change once the dataset has versions."]})

    dataset, audit = update_named(
        dataset, changes, noun="dataset", editable=EDITABLE_FIELDS, audited_values=AUDITED_VALUES, check=task_fixed
    )
    if audit:
        record_audit(actor=actor, action="dataset.update", team=dataset.team, target=dataset, data=audit)
    return dataset


@transaction.atomic
def delete_dataset(*, actor: User, dataset: Dataset, now=None) -> None:
    """Soft delete (datasets_app.retention): the dataset and its versions are gone from the API at once and
    purged after ECO_RETENTION_DAYS (`purge_deleted_datasets`) unless a staff user restores them first;
    audited as `dataset.delete`. Conflict (409) while something uses it, as before: a model version trained
    on it, an evaluation or gate on one of its versions, a version of another data set derived from one."""
    retention.soft_delete(actor=actor, obj=dataset, noun="dataset", now=now)


@transaction.atomic
def restore_dataset(*, actor: User, dataset: Dataset, now=None) -> Dataset:
    """Bring a deleted dataset back within ECO_RETENTION_DAYS; audited as `dataset.restore`. Conflict (409)
    past the period, or when the team has made another dataset of the same name since."""
    return retention.restore(actor=actor, obj=dataset, noun="dataset", now=now)


def purge_deleted_datasets(*, now=None) -> list[str]:
    """Delete for good the datasets deleted more than ECO_RETENTION_DAYS ago, with their versions; their
    blobs go when nothing else (another version, a model) refers to them. Run by the reaper's round."""
    return retention.purge_expired(
        model=Dataset,
        noun="dataset",
        blob_ids=lambda dataset: set(DatasetVersion.objects.filter(dataset=dataset).values_list("blob_id", flat=True)),
        now=now,
    )


@transaction.atomic
def record_download(*, actor: User, version: DatasetVersion, export: str) -> None:
    """Audit one download of a version's rows as `dataset_version.download` (every sensitivity): `format` is
    `original` (the stored file) or `safe-csv` (the spreadsheet-safe export)."""
    dataset = version.dataset
    record_audit(
        actor=actor,
        action="dataset_version.download",
        team=dataset.team,
        target=version,
        data={
            "dataset": str(dataset.pk),
            "name": dataset.name,
            "version": version.version,
            "sensitivity": dataset.sensitivity,
            "format": export,
            "sha256": version.blob_id,
        },
    )


def _check_fits_task(dataset: Dataset, inspection: formats.Inspection) -> None:
    """A regression target must be a number column (ValidationError naming the target)."""
    target = inspection.schema.get("target")
    if dataset.task == Task.REGRESSION and target is not None:
        column = next(c for c in inspection.schema["columns"] if c["name"] == target)
        if not formats.is_numeric(column["dtype"]):
            raise ValidationError(
                {"target": [f"A regression target must be numeric; '{target}' is {column['dtype']}."]}
            )


def register_version(
    *,
    actor: User | None,
    dataset: Dataset,
    path: str | Path,
    content: File,
    sha256: str,
    size: int,
    fmt: str,
    target: str,
    source: str,
    filename: str = "",
    source_detail: dict | None = None,
    parents: Iterable[DatasetVersion] = (),
    description: str = "",
    early_inspection: StreamInspector | None = None,
    na_values: list[str] | None = None,
    delimiter: str | None = None,
) -> DatasetVersion:
    """Validate a file and record it as the dataset's next version. Nothing is stored if anything fails.

    The file is read under the one typing rule (ml/formats/rules.py) with the data set's task and the upload's
    `na_values` and `delimiter`; a FormatError answers 400 naming the field and where in the file."""
    na_values, delimiter = formats.check_options(na_values, delimiter)
    if delimiter != "," and fmt != "csv":
        raise UserError("a delimiter applies to CSV files only", field="delimiter")
    reading = formats.Reading(target=target, task=dataset.task, na_values=na_values, delimiter=delimiter)
    try:
        inspection = formats.inspect(path, fmt, reading, early=early_inspection if fmt == "csv" else None)
    except formats.FormatError as exc:
        raise exc.prefixed("file") from None
    if problem := unsafe_text(inspection.schema["columns"], "column"):
        raise ValidationError({"file": [f"a {problem}; rename it"]})
    _check_fits_task(dataset, inspection)
    parents = list(parents)
    for parent in parents:
        if parent.dataset.team_id != dataset.team_id:
            raise ValidationError({"parents": [f"Dataset version {parent.pk} does not exist."]})

    with blobs.stored(content, sha256=sha256, size=size) as blob:
        locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if locked is None:  # deleted while the file was being checked
            raise Http404("The dataset no longer exists.")
        number = (locked.versions.aggregate(n=Max("version"))["n"] or 0) + 1
        version = DatasetVersion.objects.create(
            dataset=locked,
            version=number,
            blob=blob,
            format=fmt,
            filename=filename[:255],
            target=target,
            schema=inspection.schema,
            num_rows=inspection.num_rows,
            source=source,
            source_detail=source_detail or {},
            description=description,
            created_by=actor,
        )
        DatasetLineage.objects.bulk_create([DatasetLineage(child=version, parent=p) for p in parents])
        Dataset.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return version


def create_version_from_upload(
    *,
    actor: User,
    dataset: Dataset,
    file,
    target: str,
    fmt: str | None = None,
    na_values: list[str] | None = None,
    delimiter: str | None = None,
    description: str = "",
) -> DatasetVersion:
    """A version from an uploaded file that HashingUploadHandler has already hashed to a temporary file."""
    try:
        fmt = formats.detect_format(file.name, fmt)
    except formats.FormatError as exc:
        raise exc.prefixed("format") from None
    path = file.temporary_file_path()
    sha256 = getattr(file, "sha256", None)
    if sha256 is None:
        sha256, _ = blobs.hash_path(path)
    check_storage_quota(team=dataset.team, sha256=sha256, size=file.size)
    return register_version(
        actor=actor,
        dataset=dataset,
        path=path,
        content=file,
        sha256=sha256,
        size=file.size,
        fmt=fmt,
        target=target,
        source=Source.UPLOAD,
        filename=file.name,
        source_detail={"filename": file.name},
        description=description,
        early_inspection=getattr(file, "early_inspection", None),
        na_values=na_values,
        delimiter=delimiter,
    )


def check_storage_quota(*, team, sha256: str, size: int) -> None:
    """Raise Conflict (409, naming the quota) when storing `size` more bytes would take the team past its
    storage quota (the smallest `storage_bytes` of its pool quotas; none: unlimited). A file the team already
    holds (same sha256) costs nothing: blobs are stored once."""
    limit = selectors.storage_quota_bytes(team=team)
    if limit is None:
        return
    used = selectors.team_storage_bytes(team=team)
    if selectors.team_holds_blob(team=team, sha256=sha256):
        return
    if used + size > limit:
        raise Conflict(
            f"team storage quota: {used:,} of {limit:,} bytes in use; this upload of {size:,} bytes does not fit. "
            "Delete versions the team no longer needs or ask an administrator for a larger quota."
        )


def create_version_from_builtin(*, actor: User, dataset: Dataset, name: str, description: str = "") -> DatasetVersion:
    """A version holding one of scikit-learn's bundled data sets, written as CSV."""
    spec = bundled.BUILTINS.get(name)
    if spec is None:
        raise ValidationError({"builtin": [f"Unknown built-in '{name}'; use one of {', '.join(bundled.BUILTINS)}."]})
    if dataset.task not in spec["tasks"]:
        allowed = " or ".join(sorted(spec["tasks"]))
        raise ValidationError(
            {"builtin": [f"'{name}' is a {allowed} data set; this dataset's task is {dataset.task}."]}
        )
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        path = Path(tmp) / f"{name}.csv"
        detail = bundled.write_csv(name, path)
        sha256, size = blobs.hash_path(path)
        with open(path, "rb") as fh:
            return register_version(
                actor=actor,
                dataset=dataset,
                path=path,
                content=File(fh, name=path.name),
                sha256=sha256,
                size=size,
                fmt="csv",
                target=bundled.TARGET,
                source=Source.BUILTIN,
                filename=path.name,
                source_detail=detail,
                description=description,
            )


def version_stats(*, version: DatasetVersion) -> dict:
    """The version's per-column statistics (ml.stats.column_stats: {num_rows, columns}). Computed from its file
    the first time (streamed, constant memory) and stored on the version, which is immutable, so every later
    call reads the stored copy. Two first calls at once both compute; the first to finish stores its result.
    Not in a transaction: the read may take seconds and holds no lock."""
    stored = DatasetVersion.objects.filter(pk=version.pk).values_list("stats", flat=True).first()
    if stored is not None:
        return stored
    result = stats.column_stats(lambda: blobs.open_blob(version.blob), version.format, version.schema, version.num_rows)
    DatasetVersion.objects.filter(pk=version.pk, stats__isnull=True).update(stats=result)
    return result
