"""Processing steps that turn one dataset version's table into a new one (the `process` job).

Steps: dropna, dedupe, standardize, filter, map_labels, sample, fillna, cast. `check_steps` validates a
list of steps against a version's schema before anything runs (a StepError names the step and field);
`apply_steps` runs them over a pyarrow Table read by ml.formats (the one typing rule: missing values are
nulls). Versions of every format can be processed; the output keeps the input format, and its schema comes
from reading the written file again under the rule (so a CSV column cast to `string` that holds only numbers
reads back as numbers; Parquet keeps the type).

fillna fills missing values with a `value` or a `strategy` computed over the whole table (the table is the
data set, not a train split: for statistics learnt from train rows only, train with options.impute):
mean / median of the present values, or the most frequent present value (the smallest among ties). cast
turns columns into int64, float64 or string; text numbers may carry thousands separators (`1,234`,
`1 234`, `1_234`, `1'234`, in groups of three) and, with `decimal: ","`, a decimal comma (`1.234,5`);
values it cannot cast become missing and are counted in the step's report.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml import formats
from ml.errors import UserError
from ml.formats import is_numeric, label_text, sample_array

OPS = ("dropna", "dedupe", "standardize", "filter", "map_labels", "sample", "fillna", "cast")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null")
PROCESSABLE_FORMATS = formats.FORMATS
MAX_STEPS = 50
_ALLOWED = {
    "dropna": {"columns"},
    "dedupe": {"columns"},
    "standardize": {"columns"},
    "filter": {"column", "operator", "value"},
    "map_labels": {"column", "mapping"},
    "sample": {"n", "fraction", "seed", "complement"},
    "fillna": {"columns", "value", "strategy"},
    "cast": {"columns", "to", "decimal"},
}
FILL_STRATEGIES = ("mean", "median", "most_frequent")
CAST_TYPES = ("int64", "float64", "string")
DECIMALS = (".", ",")
EXAMPLES = 5  # uncastable values shown in a cast step's report, per column


def _numeric(dtype: str) -> bool:
    """Numbers to compare and scale; booleans are not (they compare with true / false only)."""
    return is_numeric(dtype) and dtype != "bool"


INT64_MAX = 2**63 - 1
SAMPLES = "samples"


class StepError(UserError):
    """A step does not fit the data; `field` names it (steps[2].column)."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


class _Dtypes(dict):
    """Column name -> dtype as the earlier steps leave it. An NPZ array of more than one axis is one column of
    samples (images): its dtype here is SAMPLES, and the steps that look at single values refuse it."""

    def __init__(self, columns: list[dict]):
        super().__init__((c["name"], SAMPLES if len(c.get("shape") or ()) > 1 else c["dtype"]) for c in columns)

    @property
    def shaped(self) -> set[str]:
        return {name for name, dtype in self.items() if dtype == SAMPLES}


def check_steps(steps, *, columns: list[dict], target: str) -> list[dict]:
    """The steps, checked one by one against the columns as the earlier steps leave them."""
    if not isinstance(steps, list) or not steps:
        raise StepError("steps", "give a non-empty list of steps")
    if len(steps) > MAX_STEPS:
        raise StepError("steps", f"at most {MAX_STEPS} steps, got {len(steps)}")
    dtypes = _Dtypes(columns)
    checked = []
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, dict) or not isinstance(step.get("op"), str):
            raise StepError(f"{where}.op", f"each step is an object with an 'op': one of {', '.join(OPS)}")
        op = step["op"]
        if op not in OPS:
            raise StepError(f"{where}.op", f"unknown op '{op}'; use one of {', '.join(OPS)}")
        unknown = sorted(set(step) - _ALLOWED[op] - {"op"})
        if unknown:
            raise StepError(f"{where}.{unknown[0]}", f"'{op}' takes {', '.join(sorted(_ALLOWED[op])) or 'no options'}")
        checked.append(_CHECKS[op](dict(step), dtypes, target, where))
    return checked


def _column_list(step: dict, dtypes: dict, where: str, *, numeric: bool = False) -> list[str] | None:
    names = step.get("columns")
    if names is None:
        return None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise StepError(f"{where}.columns", "give a non-empty list of column names")
    for name in names:
        _known(name, dtypes, f"{where}.columns")
        if dtypes[name] == SAMPLES and step["op"] not in ("dropna", "dedupe"):
            raise StepError(f"{where}.columns", f"'{name}' is an array of samples; '{step['op']}' takes flat columns")
        if numeric and not _numeric(dtypes[name]):
            raise StepError(f"{where}.columns", f"column '{name}' is {dtypes[name]}, not numeric")
    return names


def _known(name, dtypes: dict, field: str, *, flat: bool = False) -> str:
    if not isinstance(name, str) or name not in dtypes:
        raise StepError(field, f"no column named {name!r}; columns: {', '.join(list(dtypes)[:20])}")
    if flat and dtypes[name] == SAMPLES:
        raise StepError(field, f"'{name}' is an array of samples; this step takes a flat column")
    return name


def _check_dropna(step, dtypes, target, where):
    step["columns"] = _column_list(step, dtypes, where)
    return step


def _check_standardize(step, dtypes, target, where):
    names = _column_list(step, dtypes, where, numeric=True)
    if names and target in names:
        raise StepError(f"{where}.columns", f"'{target}' is the target; standardize features only")
    if names is None:
        names = [n for n, t in dtypes.items() if n != target and _numeric(t)]
        if not names:
            raise StepError(f"{where}.columns", "there are no numeric feature columns to standardize")
    for name in names:
        dtypes[name] = "float64"
    step["columns"] = names
    return step


def _check_filter(step, dtypes, target, where):
    name = _known(step.get("column"), dtypes, f"{where}.column", flat=True)
    operator = step.get("operator")
    if operator not in COMPARISONS:
        raise StepError(f"{where}.operator", f"'operator' must be one of {', '.join(COMPARISONS)}; got {operator!r}")
    value, dtype = step.get("value"), dtypes[name]
    if operator in ("is_null", "not_null"):
        if "value" in step:
            raise StepError(f"{where}.value", f"'{operator}' takes no value")
    elif operator in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise StepError(f"{where}.value", f"'{operator}' needs a non-empty list of values")
        step["value"] = [_filter_value(v, dtype, name, f"{where}.value") for v in value]
    else:
        ordering = operator not in ("==", "!=")
        if ordering and not _numeric(dtype):
            raise StepError(f"{where}.operator", f"'{operator}' compares numbers; column '{name}' is {dtype}")
        step["value"] = _filter_value(value, dtype, name, f"{where}.value", threshold=ordering)
    step["column"] = name
    return step


def _filter_value(value, dtype: str, name: str, field: str, *, threshold: bool = False):
    """The value in the column's own type: an integer for an integer column (a threshold for <, >… may be
    any finite number), a float for a float column, true / false for a boolean one, a string otherwise."""
    if dtype == "bool":
        if not isinstance(value, bool):
            raise StepError(field, f"column '{name}' holds true / false; compare it with a boolean, not {value!r}")
        return value
    if _numeric(dtype):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise StepError(field, f"column '{name}' is numeric; compare it with a finite number, not {value!r}")
        if dtype.startswith(("int", "uint")) and not threshold:
            if isinstance(value, float) and not value.is_integer():
                raise StepError(field, f"column '{name}' holds integers; {value!r} is not one")
            if abs(value) > INT64_MAX:
                raise StepError(field, f"{value!r} is beyond the range of column '{name}'")
            return int(value)
        return float(value)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise StepError(field, f"compare column '{name}' with a string, not {value!r}")
    return str(value)


def _check_map_labels(step, dtypes, target, where):
    name = _known(step.get("column", target), dtypes, f"{where}.column", flat=True)
    mapping = step.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise StepError(f"{where}.mapping", "give a non-empty object of old label -> new label")
    for old, new in mapping.items():
        if not isinstance(new, (str, int)) or isinstance(new, bool) or (isinstance(new, str) and not new):
            raise StepError(f"{where}.mapping", f"the new label for {old!r} must be a non-empty string or an integer")
    step["column"] = name
    step["mapping"] = {str(k): str(v) for k, v in mapping.items()}
    dtypes[name] = "string"
    return step


def _check_sample(step, dtypes, target, where):
    n, fraction = step.get("n"), step.get("fraction")
    if (n is None) == (fraction is None):
        raise StepError(f"{where}.n", "give exactly one of 'n' (rows) or 'fraction' (0 < fraction <= 1)")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise StepError(f"{where}.n", f"'n' must be a positive integer, got {n!r}")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1
    ):
        raise StepError(f"{where}.fraction", f"'fraction' must be in (0, 1], got {fraction!r}")
    seed = step.setdefault("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise StepError(f"{where}.seed", f"'seed' must be an integer from 0 to 2**32 - 1, got {seed!r}")
    if not isinstance(step.setdefault("complement", False), bool):
        raise StepError(f"{where}.complement", "'complement' must be true or false")
    return step


def _check_dedupe(step, dtypes, target, where):
    step["columns"] = _column_list(step, dtypes, where)
    return step


def _check_fillna(step, dtypes, target, where):
    """Exactly one of `value` (of each column's type; an integer column takes a fraction by becoming float64)
    or `strategy`; `columns` default to the feature columns the value or strategy fits."""
    has_value, strategy = step.get("value") is not None, step.get("strategy")
    if has_value == (strategy is not None):
        raise StepError(f"{where}.value", f"give exactly one of 'value' or 'strategy' ({', '.join(FILL_STRATEGIES)})")
    if strategy is not None and strategy not in FILL_STRATEGIES:
        raise StepError(
            f"{where}.strategy", f"'strategy' must be one of {', '.join(FILL_STRATEGIES)}; got {strategy!r}"
        )
    value = step.get("value")
    if has_value and (isinstance(value, (list, dict)) or (isinstance(value, float) and not math.isfinite(value))):
        raise StepError(f"{where}.value", f"'value' is one finite number, string or boolean; got {value!r}")

    def problem(name: str) -> str | None:
        dtype = dtypes[name]
        if name in dtypes.shaped:
            return f"'{name}' is an array of samples; 'fillna' takes flat columns"
        if strategy is not None and dtype == "empty":
            return f"column '{name}' has no values to compute the {strategy} from"
        if strategy in ("mean", "median") and not _numeric(dtype):
            return f"column '{name}' is {dtype}; a {strategy} needs numbers"
        if has_value:
            return _fill_problem(value, dtype, name)
        return None

    names = _column_list(step, dtypes, where)
    if names is None:
        names = [n for n in dtypes if n != target and problem(n) is None]
        if not names:
            raise StepError(f"{where}.columns", "no feature column fits this fill; name the columns")
    for name in names:
        if reason := problem(name):
            raise StepError(f"{where}.value" if has_value else f"{where}.columns", reason)
        dtype = dtypes[name]
        if strategy in ("mean", "median") or (dtype == "int64" and isinstance(value, float)):
            dtypes[name] = "float64"
        elif has_value and dtype == "empty":
            dtypes[name] = _dtype_of_value(value)
    step["columns"] = names
    step["value"] = value
    step["strategy"] = strategy
    return step


def _fill_problem(value, dtype: str, name: str) -> str | None:
    """None when `value` can fill column `name` of `dtype`, else why not."""
    if dtype == "empty":
        return None
    if dtype == "bool":
        return None if isinstance(value, bool) else f"column '{name}' holds true / false; fill it with a boolean"
    if _numeric(dtype):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"column '{name}' is numeric; fill it with a number, not {value!r}"
        if abs(value) > INT64_MAX and dtype.startswith(("int", "uint")) and isinstance(value, int):
            return f"{value!r} is beyond the range of column '{name}'"
        return None
    return None if isinstance(value, str) else f"column '{name}' is {dtype}; fill it with a string, not {value!r}"


def _dtype_of_value(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int64", float: "float64"}.get(type(value), "string")


def _check_cast(step, dtypes, target, where):
    names = _column_list(step, dtypes, where)
    if names is None:
        raise StepError(f"{where}.columns", "name the columns to cast")
    to = step.get("to")
    if to not in CAST_TYPES:
        raise StepError(f"{where}.to", f"'to' must be one of {', '.join(CAST_TYPES)}; got {to!r}")
    decimal = step.setdefault("decimal", ".")
    if decimal not in DECIMALS:
        raise StepError(f"{where}.decimal", f"'decimal' is '.' or ','; got {decimal!r}")
    for name in names:
        dtypes[name] = to
    step["columns"] = names
    return step


_CHECKS = {
    "fillna": _check_fillna,
    "cast": _check_cast,
    "dropna": _check_dropna,
    "dedupe": _check_dedupe,
    "standardize": _check_standardize,
    "filter": _check_filter,
    "map_labels": _check_map_labels,
    "sample": _check_sample,
}


# --- running -------------------------------------------------------------------------------------


def apply_steps(table: pa.Table, steps: list[dict], *, should_stop=lambda: False) -> tuple[pa.Table, list[dict]]:
    """Run checked steps in order; returns the new table and, per step, what it did (rows before/after and
    any statistics such as the means and deviations standardize used)."""
    report = []
    for step in steps:
        if should_stop():
            break
        before = table.num_rows
        table, facts = _RUN[step["op"]](table, step)
        report.append({"op": step["op"], "rows_before": before, "rows_after": table.num_rows, **facts})
    return table, report


def _missing(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Missing values as the typing rule reads them (nulls, NaN numbers); a sample (an NPZ row of several
    axes) is missing when it holds a NaN, as inspection counts it."""
    missing = pc.is_null(column)
    if pa.types.is_floating(column.type):
        missing = pc.or_kleene(missing, pc.is_nan(column))  # is_nan(null) is null: plain or_ would give null
    elif pa.types.is_fixed_size_list(column.type) and pa.types.is_floating(column.type.value_type):
        nan = np.isnan(sample_array(column)).any(axis=1)
        missing = pc.or_kleene(missing, pa.array(nan))
    return missing


def _run_dropna(table, step):
    names = step.get("columns") or table.column_names
    keep = None
    for name in names:
        valid = pc.invert(_missing(table.column(name)))
        keep = valid if keep is None else pc.and_(keep, valid)
    return table.filter(keep), {}


def _run_dedupe(table, step):
    names = step.get("columns") or table.column_names
    row = "__row__"
    while row in table.column_names:
        row += "_"
    keys = table.select(names)
    for i, field in enumerate(keys.schema):
        if pa.types.is_fixed_size_list(field.type):  # a sample (image): its bytes are its key
            rows = sample_array(keys.column(i))
            keys = keys.set_column(i, field.name, pa.array([r.tobytes() for r in rows], type=pa.binary()))
    indexed = keys.append_column(row, pa.array(np.arange(table.num_rows)))
    first = indexed.group_by(names, use_threads=False).aggregate([(row, "min")])
    rows = np.sort(first.column(f"{row}_min").to_numpy())
    return table.take(pa.array(rows)), {}


def _run_standardize(table, step):
    stats = {}
    for name in step["columns"]:
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if len(finite) else 0.0
        std = float(finite.std()) if len(finite) else 0.0
        scaled = (values - mean) / (std if std > 0 else 1.0)
        mask = pc.is_null(table.column(name)).to_numpy(zero_copy_only=False)
        column = pa.array(scaled, mask=mask, type=pa.float64())
        table = table.set_column(table.column_names.index(name), name, column)
        stats[name] = {"mean": mean, "std": std}
    return table, {"statistics": stats}


def _run_filter(table, step):
    column, operator, value = table.column(step["column"]), step["operator"], step.get("value")
    if operator == "is_null":
        return table.filter(_missing(column)), {}
    if operator == "not_null":
        return table.filter(pc.invert(_missing(column))), {}
    if not is_numeric_type(column.type) and not pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.string())
    if operator in ("in", "not_in"):
        member = pc.is_in(column, value_set=pa.array(value, type=column.type))
        keep = member if operator == "in" else pc.invert(member)
    else:
        if is_numeric_type(column.type) and (isinstance(value, float) or abs(value) > INT64_MAX):
            column = pc.cast(column, pa.float64())  # a fractional or huge threshold on an integer column
        scalar = pa.scalar(value, type=column.type)
        keep = {
            "==": pc.equal,
            "!=": pc.not_equal,
            "<": pc.less,
            "<=": pc.less_equal,
            ">": pc.greater,
            ">=": pc.greater_equal,
        }[operator](column, scalar)
    return table.filter(pc.fill_null(keep, False)), {}


def is_numeric_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _run_map_labels(table, step):
    name, mapping = step["column"], step["mapping"]
    values = [label_text(v) for v in table.column(name).to_pylist()]  # labels as the typing rule writes them
    mapped = [None if v is None else mapping.get(v, v) for v in values]
    changed = sum(1 for a, b in zip(values, mapped, strict=True) if a != b)
    column = pa.array(mapped, type=pa.string())
    return table.set_column(table.column_names.index(name), name, column), {"rows_changed": changed}


def _run_sample(table, step):
    n = table.num_rows
    size = step["n"] if step.get("n") is not None else int(round(n * step["fraction"]))
    size = min(size, n)
    rows = np.sort(np.random.default_rng(step["seed"]).choice(n, size=size, replace=False))
    if step.get("complement"):  # the rows the same sample leaves out: a disjoint hold-out set
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        rows = np.flatnonzero(keep)
    return table.take(pa.array(rows)), {}


def _present(column: pa.ChunkedArray) -> pa.Array:
    return pc.filter(column, pc.invert(_missing(column))).combine_chunks()


def _statistic(column: pa.ChunkedArray, strategy: str):
    """The mean, median or most frequent value (the smallest among ties) of the present values; None if
    there are none. Median: the mean of the two middle values for an even count."""
    present = _present(column)
    if len(present) == 0:
        return None
    if strategy in ("mean", "median"):
        numbers = present.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return float(np.mean(numbers) if strategy == "mean" else np.median(numbers))
    counts = pc.value_counts(present)
    values, hits = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    top = max(hits)
    return min(v for v, n in zip(values, hits, strict=True) if n == top)


def _run_fillna(table, step):
    filled = {}
    for name in step["columns"]:
        column = table.column(name)
        missing = _missing(column)
        count = pc.sum(missing).as_py() or 0
        value = step["value"] if step.get("strategy") is None else _statistic(column, step["strategy"])
        if step.get("strategy") in ("mean", "median") or (isinstance(value, float) and is_numeric_type(column.type)):
            column = column.cast(pa.float64())
        elif value is not None and (
            pa.types.is_null(column.type) or (pa.types.is_string(column.type) and not isinstance(value, str))
        ):  # an all-missing (`empty`) column takes the type of its value
            column = pa.chunked_array([pa.nulls(len(column), pa.scalar(value).type)])
        if value is not None and count:
            column = pc.if_else(missing, pa.scalar(value, type=column.type), column)
        table = table.set_column(table.column_names.index(name), name, column)
        filled[name] = {"count": count if value is not None else 0, "value": value}
    return table, {"filled": filled}


_THOUSANDS = {".": ",_' \u00a0\u202f", ",": "._' \u00a0\u202f"}


def _number_pattern(decimal: str) -> re.Pattern:
    """A number written with optional thousands separators (one kind, groups of three) and `decimal`."""
    sep, dot = re.escape(_THOUSANDS[decimal]), re.escape(decimal)
    return re.compile(
        rf"(?P<sign>[+-]?)(?P<int>\d{{1,3}}(?P<sep>[{sep}])\d{{3}}(?:(?P=sep)\d{{3}})*|\d+)(?:{dot}(?P<frac>\d*))?"
        rf"(?P<exp>[eE][+-]?\d+)?|(?P<sign2>[+-]?){dot}(?P<frac2>\d+)(?P<exp2>[eE][+-]?\d+)?"
    )


_INFINITY = re.compile(r"(?P<sign>[+-]?)(?:inf|infinity)", re.IGNORECASE)


def parse_number(text: str, to: str, decimal: str = "."):
    """`text` as an int (to int64: whole numbers in range only) or a float (to float64), or None when it is
    not a number written the way the docstring of this module says."""
    text = text.strip()
    match = _number_pattern(decimal).fullmatch(text)
    if match is None:
        infinity = _INFINITY.fullmatch(text) if to == "float64" else None
        return None if infinity is None else float(f"{infinity['sign']}inf")
    if match["int"] is not None:
        digits = match["int"].replace(match["sep"] or "", "")
        normal = f"{match['sign']}{digits}.{match['frac'] or '0'}{match['exp'] or ''}"
    else:
        normal = f"{match['sign2']}0.{match['frac2']}{match['exp2'] or ''}"
    if to == "float64":
        number = float(normal)
        return number if math.isfinite(number) else None
    try:
        exact = Decimal(normal)
    except InvalidOperation:
        return None
    if exact != exact.to_integral_value() or abs(exact) > INT64_MAX:
        return None
    return int(exact)


def _run_cast(table, step):
    report = {}
    arrow = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    for name in step["columns"]:
        column = table.column(name).combine_chunks()
        to, source = step["to"], table.column(name).type
        present = pc.invert(_missing(pa.chunked_array([column]))).combine_chunks()
        if pa.types.is_string(source) or pa.types.is_large_string(source):
            if to == "string":
                result = column.cast(pa.string())
            else:
                encoded = column.cast(pa.string()).dictionary_encode()
                parsed = [parse_number(v, to, step["decimal"]) for v in encoded.dictionary.to_pylist()]
                result = pa.array(parsed, type=arrow[to]).take(encoded.indices)
        elif to == "string":
            result = pa.array([label_text(v) for v in column.to_pylist()], type=pa.string())
        elif pa.types.is_boolean(source):
            result = column.cast(pa.int8()).cast(arrow[to])
        elif to == "int64" and pa.types.is_floating(source):
            values = column.to_numpy(zero_copy_only=False)
            whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2.0**63)
            result = pa.array(np.where(whole, values, 0).astype(np.int64), mask=~whole, type=pa.int64())
        else:  # numbers (or an all-missing column) to a number type
            result = column.cast(arrow[to])
        failed = pc.and_(present, pc.is_null(result))
        count = pc.sum(failed).as_py() or 0
        examples = pc.unique(pc.filter(column, failed)).to_pylist()[:EXAMPLES] if count else []
        report[name] = {"to": to, "uncastable": count, "examples": [label_text(v) for v in examples]}
        table = table.set_column(table.column_names.index(name), name, result)
    return table, {"cast": report}


_RUN = {
    "fillna": _run_fillna,
    "cast": _run_cast,
    "dropna": _run_dropna,
    "dedupe": _run_dedupe,
    "standardize": _run_standardize,
    "filter": _run_filter,
    "map_labels": _run_map_labels,
    "sample": _run_sample,
}
