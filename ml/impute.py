"""Missing feature values in training, evaluation and serving: the train spec's `options.impute`.

Strategies (the statistic of each used feature column over the TRAIN rows only, learnt after the split
where the feature mean / std is learnt, so nothing about held-out rows leaks into the model):
  mean            the mean of the column's present values
  median          their median (the mean of the two middle values for an even count)
  most_frequent   the most frequent present value, the smallest among ties; the only filling strategy for
                  text columns
  drop_rows       rows with a missing value in any used column are dropped before the split; nothing is
                  learnt, so serving cannot fill a missing input
scikit-learn's SimpleImputer computes the statistics (numbers: NaN is missing; text: None is missing). An NPZ
sample array gets one statistic per element position (an image's per-pixel mean, say).

Whatever the strategy, a missing target is never imputed: with any strategy set, rows whose target is
missing are dropped before the split. The model's spec keeps
    preprocessing["impute"] = {"strategy": ..., "values": {column: value}}
(a number, a text, or for an NPZ sample array a nested list of its sample shape; `values` is empty for
drop_rows), and evaluation and serving fill with exactly these values.
"""

from __future__ import annotations

import math

import numpy as np

from ml.architectures import SpecError
from ml.errors import UserError
from ml.formats import label_text

MEAN, MEDIAN, MOST_FREQUENT, DROP_ROWS = "mean", "median", "most_frequent", "drop_rows"
STRATEGIES = (MEAN, MEDIAN, MOST_FREQUENT, DROP_ROWS)
FILLING = (MEAN, MEDIAN, MOST_FREQUENT)  # strategies that learn values to fill with
TEXT_STRATEGIES = (MOST_FREQUENT, DROP_ROWS)
OPTION = "impute"  # the train spec's options key (a data option: never passed to the network builder)
CHOICES_TEXT = "mean, median, most_frequent or drop_rows"


class ImputeError(UserError):
    """The data cannot be imputed as asked (a text column with mean, a column with no value to learn from)."""


def check_strategy(value) -> str | None:
    """`options.impute`, checked: None or one of STRATEGIES (SpecError on field `impute` otherwise)."""
    if value is None or value in STRATEGIES:
        return value
    raise SpecError(f"must be one of {CHOICES_TEXT}; got {value!r}", field=OPTION)


def strategy_of(options: dict | None) -> str | None:
    """The impute strategy of a train spec's options (checked), or None."""
    return check_strategy((options or {}).get(OPTION)) if isinstance(options, dict) else None


def missing_mask(values: np.ndarray) -> np.ndarray:
    """(N,) bool: True for the rows where a column's value is missing. Numbers: NaN or ±inf, as the typing
    rule reads them (an NPZ sample: in any of its elements); text: None or a NaN float."""
    values = np.asarray(values)
    if values.dtype == object:
        return np.fromiter(
            (v is None or (isinstance(v, float) and math.isnan(v)) for v in values.ravel()), bool, values.size
        ).reshape(values.shape)
    if values.dtype.kind not in "fc":
        return np.zeros(len(values), dtype=bool)
    missing = ~np.isfinite(values)
    return missing.reshape(len(values), -1).any(axis=1) if values.ndim > 1 else missing


def missing_target(values: np.ndarray) -> np.ndarray:
    """(N,) bool: True where a target is missing (None, NaN or empty text, as encode_targets sees it)."""
    values = np.asarray(values)
    if values.dtype == object:
        return np.fromiter((label_text(v) is None for v in values), bool, len(values))
    return missing_mask(values)


def missing_rows(columns: dict[str, np.ndarray], names) -> np.ndarray:
    """(N,) bool: True for the rows with a missing value in any of the named columns."""
    rows = len(next(iter(columns.values())))
    mask = np.zeros(rows, dtype=bool)
    for name in names:
        if name in columns:
            mask |= missing_mask(columns[name])
    return mask


def learn(features: dict[str, np.ndarray], names: list[str], strategy: str) -> dict:
    """The imputer for the named columns, learnt from these rows (the train rows): {"strategy", "values"}.

    Raises ImputeError naming the column for text with mean / median, or a column with no present value."""
    check_strategy(strategy)
    if strategy == DROP_ROWS:
        return {"strategy": DROP_ROWS, "values": {}}
    from sklearn.impute import SimpleImputer

    values: dict = {}
    for name in names:
        column = np.asarray(features[name])
        if column.dtype == object:
            if strategy not in TEXT_STRATEGIES:
                raise ImputeError(
                    f"impute {strategy} cannot fill text column '{name}'; use most_frequent or drop_rows",
                    field=OPTION,
                )
            present = [v for v, gone in zip(column, missing_mask(column), strict=True) if not gone]
            if not present:
                raise ImputeError(f"column '{name}' has no value in the train rows to impute from", field=OPTION)
            imputer = SimpleImputer(missing_values=None, strategy=strategy)
            values[name] = str(imputer.fit(np.array(present, dtype=object)[:, None]).statistics_[0])
            continue
        flat = column.reshape(len(column), -1).astype(np.float64)
        flat[~np.isfinite(flat)] = np.nan  # SimpleImputer's missing marker; ±inf is missing under the rule too
        statistics = SimpleImputer(strategy=strategy, keep_empty_features=False).fit(flat).statistics_
        if np.isnan(statistics).any():
            raise ImputeError(f"column '{name}' has no value in the train rows to impute from", field=OPTION)
        values[name] = float(statistics[0]) if column.ndim == 1 else statistics.reshape(column.shape[1:]).tolist()
    return {"strategy": strategy, "values": values}


def fill(features: dict[str, np.ndarray], imputer: dict | None) -> dict[str, np.ndarray]:
    """The columns with their missing values replaced by the imputer's (columns it has no value for, and
    every column for drop_rows, are unchanged)."""
    values = (imputer or {}).get("values") or {}
    out = dict(features)
    for name, value in values.items():
        if name not in out:
            continue
        column = np.asarray(out[name])
        if column.dtype == object:
            mask = missing_mask(column)
            if mask.any():
                column = column.copy()
                column[mask] = value
        elif column.dtype.kind == "f":
            column = np.where(np.isfinite(column), column, np.asarray(value, dtype=column.dtype))
        out[name] = column
    return out


def summary(imputer: dict, limit: int = 10) -> str:
    """One log line: the strategy and the first `limit` learnt values."""
    values = imputer.get("values") or {}
    shown = [f"{k}={_short(v)}" for k, v in list(values.items())[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return f"impute {imputer['strategy']}" + (": " + ", ".join(shown) + more if shown else "")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return f"per-element values of shape {list(np.shape(value))}"
    return repr(value)
