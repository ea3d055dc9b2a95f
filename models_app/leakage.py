"""The gates' leakage check: how many rows of a gate's pinned set a model version was trained on, found by content.

A version trained on its gate's own evaluation set scores (nearly) perfectly on it, takes the alias, and every
later candidate then has to beat that score. So the gate counts the pinned set's rows that are also in the
candidate's training data, by content rather than by dataset-version id: a re-uploaded copy of the pinned
file, its rows shuffled, its columns reordered or its labels changed, is the same data. A row is compared by
its typed feature values without the target (ml.rowhash); overlap counts distinct rows.

The training data of a version is what it records (`ModelVersion.dataset_versions`: a train job records its
spec's dataset version) together with that of the versions it derives from (an export or a quantization
trained on nothing itself). Two data sets are compared over the pinned set's feature columns when the
training set has all of them (an added id column does not hide a copy), or over the training set's when
the pinned set has all of those (nor does a dropped one); data sets sharing neither column set are not
compared.

Row hashes are computed once per dataset version (and column set) and kept in RowHashes; `warm` computes
what a check will need, outside any transaction the caller opens after it (a refused move rolls back, the
cache stays).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction

from datasets_app import blobs
from datasets_app.models import DatasetVersion
from ml import rowhash
from ml.errors import UserError
from models_app.models import GatePolicy, ModelVersion, RowHashes

MAX_LINEAGE = 100  # versions walked up a parent chain


class LeakageError(UserError):
    """A data set could not be read to hash its rows; the message says which and why."""


@dataclass(frozen=True)
class Hashes:
    hashes: np.ndarray  # sorted distinct uint64
    num_rows: int
    columns: tuple[str, ...]


@dataclass
class Overlap:
    """What `measure` found. `overlap`: distinct pinned rows found in the training data, None when there is
    no training data to compare with; `pinned_rows`: distinct rows of the pinned set (over the compared
    columns); `training`: the dataset versions compared; `skipped`: those sharing no column set with it."""

    overlap: int | None
    pinned_rows: int
    training: list[DatasetVersion] = field(default_factory=list)
    skipped: list[DatasetVersion] = field(default_factory=list)


def _key(columns: Iterable[str]) -> str:
    text = json.dumps({"algorithm": rowhash.VERSION, "columns": sorted(columns)}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def row_hashes(dataset_version: DatasetVersion, columns: Iterable[str] | None = None) -> Hashes:
    """The sorted distinct row hashes of a dataset version over `columns` (default: every column but the
    target), from the cache, or read from its file, hashed and stored on first use.

    Raises LeakageError when the file cannot be read (missing blob, a reader error)."""
    names = sorted(columns) if columns is not None else rowhash.feature_columns(dataset_version.schema)
    key = _key(names)
    cached = (
        RowHashes.objects.filter(dataset_version=dataset_version, columns_key=key, algorithm=rowhash.VERSION)
        .values_list("hashes", "num_rows")
        .first()
    )
    if cached is not None:
        return Hashes(rowhash.from_bytes(cached[0]), cached[1], tuple(names))
    started = time.monotonic()
    try:
        with blobs.local_copy(dataset_version.blob) as path:
            computed = rowhash.row_hashes(path, dataset_version.format, dataset_version.schema, names)
    except (OSError, KeyError, UserError) as exc:
        raise LeakageError(f"could not read {dataset_version} to compare its rows: {exc}") from None
    RowHashes.objects.bulk_create(
        [
            RowHashes(
                dataset_version=dataset_version,
                columns_key=key,
                columns=list(computed.columns),
                algorithm=rowhash.VERSION,
                num_rows=computed.rows,
                distinct_rows=computed.distinct,
                hashes=rowhash.to_bytes(computed.hashes),
                seconds=round(time.monotonic() - started, 3),
            )
        ],
        ignore_conflicts=True,  # another check stored the same a moment ago
    )
    return Hashes(computed.hashes, computed.rows, computed.columns)


def training_data(version: ModelVersion) -> list[DatasetVersion]:
    """The dataset versions `version` was trained on: its own and those of the versions it derives from."""
    found: dict = {}
    seen = set()
    current = version
    while current is not None and current.pk not in seen and len(seen) < MAX_LINEAGE:
        seen.add(current.pk)
        for dv in current.dataset_versions.select_related("blob", "dataset").order_by("created_at"):
            found.setdefault(dv.pk, dv)
        current = current.parent
    return list(found.values())


def _compared_columns(pinned: list[str], training: list[str]) -> tuple[str, ...] | None:
    """The columns two data sets are compared over: the pinned set's when the training set has them all,
    else the training set's when the pinned set has those; None when neither holds the other's."""
    if pinned and set(pinned) <= set(training):
        return tuple(pinned)
    if training and set(training) <= set(pinned):
        return tuple(training)
    return None


def measure(*, pinned: DatasetVersion, training: Iterable[DatasetVersion]) -> Overlap:
    """How many distinct rows of `pinned` are in `training` (several data sets count together). When the
    training sets are compared over different column sets, the largest overlap of one column set counts.

    Raises LeakageError when a file cannot be read."""
    training = list(training)
    pinned_columns = rowhash.feature_columns(pinned.schema)
    groups: dict[tuple[str, ...], list[DatasetVersion]] = {}
    skipped = []
    for dv in training:
        columns = _compared_columns(pinned_columns, rowhash.feature_columns(dv.schema))
        if columns is None:
            skipped.append(dv)
        else:
            groups.setdefault(columns, []).append(dv)
    if not training:
        return Overlap(overlap=None, pinned_rows=len(row_hashes(pinned).hashes))
    best = None
    for columns, members in groups.items():
        mine = row_hashes(pinned, columns)
        theirs = rowhash.merged(row_hashes(dv, columns).hashes for dv in members)
        found = (rowhash.overlap(mine.hashes, theirs), len(mine.hashes), columns == tuple(pinned_columns))
        if best is None or found > best:
            best = found
    if best is None:
        best = (0, len(row_hashes(pinned).hashes), True)
    return Overlap(
        overlap=best[0], pinned_rows=best[1], training=[dv for dv in training if dv not in skipped], skipped=skipped
    )


def _names(versions: list[DatasetVersion]) -> str:
    return ", ".join(f"{dv.dataset.name} v{dv.version}" for dv in versions[:5]) + (
        f" and {len(versions) - 5} more" if len(versions) > 5 else ""
    )


def check(*, gate: GatePolicy, version: ModelVersion) -> dict:
    """The gate's `leakage` check of `version`: {"passed", "detail", "overlap", "max_overlap", "pinned_rows"}
    (overlap None, and passed, when the version records no training data). An unreadable file fails it."""
    allowed = gate.max_overlap
    training = training_data(version)
    own_splits = ""
    if gate.split != "all" and any(dv.pk == gate.dataset_version_id for dv in training):
        # trained on the pinned version itself: its rows are told apart by the split (training holds the gate's
        # split out, by the same seeded split the evaluation uses), not by content
        training = [dv for dv in training if dv.pk != gate.dataset_version_id]
        own_splits = (
            f"; {_names([gate.dataset_version])} itself was trained on with its {gate.split} split held out, "
            "the split the gate scores"
        )
        if not training:
            detail = own_splits.removeprefix("; ").capitalize()
            return {"passed": True, "detail": detail, "overlap": 0, "max_overlap": allowed, "pinned_rows": None}
    try:
        found = measure(pinned=gate.dataset_version, training=training)
    except LeakageError as exc:
        return {
            "passed": False,
            "detail": f"{exc}; the overlap with the pinned set is unknown",
            "overlap": None,
            "max_overlap": allowed,
            "pinned_rows": None,
        }
    if found.overlap is None:
        detail = (
            f"v{version.version} does not record the data it was trained on, so its overlap with the pinned set "
            "is unknown"
        )
        return {"passed": True, "detail": detail, "overlap": None, "max_overlap": allowed, "pinned_rows": None}
    n, total = found.overlap, found.pinned_rows
    share = "none" if n == 0 else f"{n}"
    detail = (
        f"{share} of the pinned set's {total} distinct rows {'is' if n == 1 else 'are'} in the training data "
        f"({_names(found.training) or 'none comparable'}) (allowed: {allowed})"
    )
    if found.skipped:
        detail += f"; not compared, no shared columns: {_names(found.skipped)}"
    detail += own_splits
    return {"passed": n <= allowed, "detail": detail, "overlap": n, "max_overlap": allowed, "pinned_rows": total}


def warn(*, gate: GatePolicy, dataset_version: DatasetVersion) -> str | None:
    """A sentence for whoever trains on `dataset_version` a model whose gate pins a set it overlaps; None when
    it overlaps none (or cannot be read: the gate will say so later). Training on the pinned version itself,
    when the gate scores one of its splits, is no leak: training holds that split out."""
    if gate.split != "all" and dataset_version.pk == gate.dataset_version_id:
        return None
    try:
        found = measure(pinned=gate.dataset_version, training=[dataset_version])
    except LeakageError:
        return None
    if not found.overlap:
        return None
    refused = found.overlap > gate.max_overlap
    aliases = ", ".join(gate.aliases) or "no alias"
    return (
        f"{found.overlap} of the {found.pinned_rows} distinct rows of the gate's pinned set "
        f"({gate.dataset_version.dataset.name} v{gate.dataset_version.version}) are in "
        f"{dataset_version.dataset.name} v{dataset_version.version}, the training data (allowed: {gate.max_overlap})"
        + (
            f": the gate will refuse to move {aliases} to the version this job trains"
            if refused
            else ": within what the gate allows"
        )
    )


def warm(*, model, version: ModelVersion, alias: str) -> None:
    """Compute and store the row hashes the leakage check of moving `alias` to `version` will need. Called
    before the move's transaction opens, so a refused move (which rolls back) keeps them; errors are left for
    the check itself to report."""
    gate = (
        GatePolicy.objects.filter(model=model).select_related("dataset_version__dataset", "dataset_version__blob")
    ).first()
    if gate is None or alias not in gate.aliases:
        return
    try:
        with transaction.atomic():
            measure(pinned=gate.dataset_version, training=training_data(version))
    except LeakageError:
        pass
