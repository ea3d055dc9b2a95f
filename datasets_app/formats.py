"""Readers for the dataset file formats (CSV, JSONL, NPZ): validate, infer the schema, count rows, preview.

Everything streams: a file of any size is inspected in constant memory. Errors are `FormatError`s whose
message names the problem (and, for CSV and JSONL, the line).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

FORMATS = ("csv", "jsonl", "npz")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".npz": "npz"}
NUMERIC_DTYPES = {
    "int64",
    "float64",
    "bool",
    "int8",
    "int16",
    "int32",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
}


class FormatError(ValueError):
    """The file cannot be used: the message says why, and where."""


@dataclass(frozen=True)
class Inspection:
    format: str
    num_rows: int
    schema: dict


def detect_format(filename: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise FormatError(f"unknown format '{explicit}'; use one of {', '.join(FORMATS)}")
        return explicit
    fmt = _EXTENSIONS.get(Path(filename or "").suffix.lower())
    if fmt is None:
        raise FormatError(
            f"cannot tell the format of '{filename}' from its extension; use .csv, .jsonl or .npz, or pass 'format'"
        )
    return fmt


def inspect(path: str | Path, fmt: str, target: str | None) -> Inspection:
    path = Path(path)
    if path.stat().st_size == 0:
        raise FormatError("the file is empty")
    reader = {"csv": _inspect_csv, "jsonl": _inspect_jsonl, "npz": _inspect_npz}[fmt]
    num_rows, columns = reader(path)
    names = [c["name"] for c in columns]
    if target is not None and target not in names:
        raise FormatError(f"target column '{target}' not found; the columns are: {', '.join(names[:50])}")
    if num_rows == 0:
        raise FormatError("the file has no data rows")
    return Inspection(format=fmt, num_rows=num_rows, schema={"columns": columns, "target": target})


# --- CSV ------------------------------------------------------------------------------------------

_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")
# When a later block disagrees with the type inferred from the first one, widen and read again.
_WIDER = {"null": pa.float64(), "int64": pa.float64(), "bool": pa.string(), "float64": pa.string()}


_ARROW_NAMES = {"double": "float64", "float": "float32", "halffloat": "float16"}


def _dtype_name(t: pa.DataType) -> str:
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_null(t):
        return "empty"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return _ARROW_NAMES.get(str(t), str(t))


def _inspect_csv(path: Path) -> tuple[int, list[dict]]:
    overrides: dict[str, pa.DataType] = {}
    for _ in range(64):
        try:
            return _scan_csv(path, overrides)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            match = _CONVERSION_ERROR.search(message)
            if match is None:
                raise FormatError(_csv_problem(path, message)) from None
            index, was = int(match.group(1)), match.group(2)
            name = _csv_header(path)[index]
            if was == "string" or was not in _WIDER:
                raise FormatError(_csv_problem(path, message)) from None
            overrides[name] = _WIDER[was]
    raise FormatError("could not settle the column types")  # pragma: no cover - needs 64 widenings


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError("line 1: the file is not valid UTF-8 text") from None
    return next(csv.reader([line]), [])


def _scan_csv(path: Path, overrides: dict) -> tuple[int, list[dict]]:
    header = _csv_header(path)
    if not header or all(not h.strip() for h in header):
        raise FormatError("line 1: the header row is empty")
    seen = set()
    for i, name in enumerate(header):
        if not name.strip():
            raise FormatError(f"line 1: column {i + 1} has no name")
        if name in seen:
            raise FormatError(f"line 1: column name '{name}' appears twice")
        seen.add(name)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(column_types=overrides, strings_can_be_null=True),
    )
    rows = 0
    nulls = [0] * len(reader.schema)
    for batch in reader:
        rows += batch.num_rows
        for i, col in enumerate(batch.columns):
            nulls[i] += col.null_count
    columns = [{"name": f.name, "dtype": _dtype_name(f.type), "missing": nulls[i]} for i, f in enumerate(reader.schema)]
    if any(c["dtype"] == "binary" for c in columns):  # arrow falls back to binary for bytes that are not UTF-8
        raise FormatError(f"line {_line_of_bad_utf8(path)}: the file is not valid UTF-8 text")
    return rows, columns


def _csv_problem(path: Path, arrow_message: str) -> str:
    """Find the first bad line with Python's csv module (only on the error path) and describe it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, [])
            for row in reader:
                if row and len(row) != len(header):
                    return f"line {reader.line_num}: expected {len(header)} fields, found {len(row)}"
    except UnicodeDecodeError:
        return f"line {_line_of_bad_utf8(path)}: the file is not valid UTF-8 text"
    except csv.Error as exc:
        return f"line {reader.line_num}: {exc}"
    return "CSV error: " + arrow_message.split("\n")[0]


def _line_of_bad_utf8(path: Path) -> int:
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


# --- JSONL ----------------------------------------------------------------------------------------


def _json_dtype(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _merge_dtype(old: str | None, new: str | None) -> str | None:
    if old is None or old == new:
        return new if old is None else old
    if new is None:
        return old
    if {old, new} == {"int64", "float64"}:
        return "float64"
    return "mixed"


def _inspect_jsonl(path: Path) -> tuple[int, list[dict]]:
    dtypes: dict[str, str | None] = {}
    present: dict[str, int] = {}
    rows = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except UnicodeDecodeError:
                raise FormatError(f"line {number}: the file is not valid UTF-8 text") from None
            except json.JSONDecodeError as exc:
                raise FormatError(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise FormatError(f"line {number}: each line must be a JSON object, found {type(record).__name__}")
            rows += 1
            for key, value in record.items():
                if key not in dtypes:
                    dtypes[key] = None
                    present[key] = 0
                dtypes[key] = _merge_dtype(dtypes[key], _json_dtype(value))
                if value is not None:
                    present[key] += 1
    columns = [{"name": k, "dtype": dtypes[k] or "empty", "missing": rows - present[k]} for k in dtypes]
    return rows, columns


# --- NPZ ------------------------------------------------------------------------------------------


def _inspect_npz(path: Path) -> tuple[int, list[dict]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise FormatError("not an NPZ file (it is not a zip archive of .npy arrays)") from None
    with archive:
        bad = archive.testzip()
        if bad is not None:
            raise FormatError(f"the archive is corrupt: member '{bad}' fails its CRC check")
        columns = []
        for member in archive.namelist():
            if not member.endswith(".npy"):
                raise FormatError(f"member '{member}' is not a .npy array")
            with archive.open(member) as fh:
                try:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise ValueError(f"unsupported .npy format version {version}")
                except ValueError as exc:
                    raise FormatError(f"array '{member[:-4]}': {exc}") from None
            if dtype.hasobject:
                raise FormatError(f"array '{member[:-4]}' holds Python objects, which are never loaded (no pickle)")
            if not shape:
                raise FormatError(f"array '{member[:-4]}' is a scalar; every array needs a first (row) axis")
            columns.append({"name": member[:-4], "dtype": str(dtype), "shape": list(shape)})
    if not columns:
        raise FormatError("the NPZ archive holds no arrays")
    lengths = {c["shape"][0] for c in columns}
    if len(lengths) != 1:
        detail = ", ".join(f"{c['name']}: {c['shape'][0]}" for c in columns)
        raise FormatError(f"arrays disagree on the number of rows ({detail})")
    return lengths.pop(), columns


# --- preview --------------------------------------------------------------------------------------


def _cast(value: str, dtype: str):
    if value == "":
        return None
    try:
        if dtype == "int64":
            return int(value)
        if dtype == "float64":
            number = float(value)
            return number if np.isfinite(number) else str(number)
        if dtype == "bool":
            return value.strip().lower() in ("true", "1")
    except ValueError:
        return value
    return value


def preview(fh: BinaryIO, fmt: str, schema: dict, limit: int) -> dict:
    """The first `limit` rows as {"columns": [...], "rows": [[...], ...]}; reads only what it needs."""
    names = [c["name"] for c in schema.get("columns", [])]
    rows: list[list] = []
    if fmt == "csv":
        dtypes = [c["dtype"] for c in schema["columns"]]
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        next(reader, None)
        for row in reader:
            if len(rows) >= limit:
                break
            rows.append([_cast(v, t) for v, t in zip(row, dtypes, strict=False)])
    elif fmt == "jsonl":
        for raw in fh:
            if len(rows) >= limit:
                break
            if raw.strip():
                record = json.loads(raw)
                rows.append([record.get(n) for n in names])
    else:
        with np.load(fh, allow_pickle=False) as npz:
            arrays = [npz[n][:limit] for n in names]
        count = min(len(a) for a in arrays)
        rows = [[a[i].tolist() for a in arrays] for i in range(count)]
    return {"columns": names, "rows": rows}


def is_numeric(dtype: str) -> bool:
    return dtype in NUMERIC_DTYPES
