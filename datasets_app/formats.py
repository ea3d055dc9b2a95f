"""Readers for the dataset file formats (CSV, JSONL, NPZ): validate, infer the schema, count rows, preview.

Everything streams: a file of any size is inspected in constant memory. Errors are `FormatError`s whose
message names the problem (and, for CSV and JSONL, the line).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from config.jsonsafe import too_deep
from ml.errors import UserError

FORMATS = ("csv", "jsonl", "npz")
csv.field_size_limit(1 << 30)  # pyarrow accepts long fields; Python's csv module must read them back too
PREVIEW_TEXT_CHARS = 10_000  # longer text cells are cut in previews
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".npz": "npz"}


class FormatError(UserError):
    """The file cannot be used: the message says why, and where."""


@dataclass(frozen=True)
class Inspection:
    format: str
    num_rows: int
    schema: dict


def format_of(filename: str) -> str | None:
    return _EXTENSIONS.get(Path(filename or "").suffix.lower())


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


def inspect(path: str | Path, fmt: str, target: str | None, early: CsvStreamInspector | None = None) -> Inspection:
    """Validate a complete file. `early` is a CSV parse that already ran while the file arrived, if any."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise FormatError("the file is empty")
    if fmt == "csv":
        num_rows, columns = _inspect_csv(path, early)
    else:
        num_rows, columns = {"jsonl": _inspect_jsonl, "npz": _inspect_npz}[fmt](path)
    names = [c["name"] for c in columns]
    if target is not None and target not in names:
        raise FormatError(f"target column '{target}' not found; the columns are: {', '.join(names[:50])}")
    if num_rows == 0:
        raise FormatError("the file has no data rows")
    return Inspection(format=fmt, num_rows=num_rows, schema={"columns": columns, "target": target})


# --- CSV ------------------------------------------------------------------------------------------

_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)")
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


def _inspect_csv(path: Path, early: CsvStreamInspector | None = None) -> tuple[int, list[dict]]:
    _check_csv_header(path)
    if early is not None:
        try:
            rows, columns = early.result()
        except Exception:  # noqa: BLE001 - whatever went wrong, the complete file is read again below
            pass  # that pass widens types where a later block disagreed, and finds the bad line
        else:
            if not early.ascii:  # the streaming pass skipped UTF-8 checks; do them now, only if needed
                _ensure_utf8(path)
            return _checked_columns(path, rows, columns)
    overrides: dict[str, pa.DataType] = {}
    for _ in range(64):
        try:
            with open(path, "rb") as fh:
                return _checked_columns(path, *_read_csv(fh, overrides))
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


def _check_csv_header(path: Path) -> None:
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


# Values read as missing. A short list: every value is compared with each entry.
NULL_VALUES = ["", "NA", "N/A", "NULL", "null", "NaN", "nan"]
# Small blocks keep memory flat: the streaming reader holds a few blocks in flight.
_BLOCK_BYTES = 1 << 20


def _sample_types(head: bytes, complete: bool) -> dict[str, pa.DataType]:
    """Column types inferred from the first block (empty or undecidable columns are left to pyarrow)."""
    sample = head if complete else head[: head.rfind(b"\n") + 1]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(sample),
            convert_options=pacsv.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        return {}  # the full pass meets the same problem and reports it properly
    return {f.name: f.type for f in table.schema if not (pa.types.is_null(f.type) or pa.types.is_binary(f.type))}


class _Replay:
    """A read-only stream: `head`, then the rest of `source`."""

    def __init__(self, head: bytes, source):
        self._head = memoryview(head)
        self._source = source
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = bytes(self._head) + self._source.read()
            self._head = self._head[len(self._head) :]
            return data
        part = bytes(self._head[:size])
        self._head = self._head[len(part) :]
        if len(part) < size:
            part += self._source.read(size - len(part))
        return part

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _read_csv(source, overrides: dict | None = None, check_utf8: bool = True) -> tuple[int, list[dict]]:
    """One streaming pass with pyarrow over a binary stream. Types come from the first block, then every
    value of every row is converted with them (a later value that does not fit raises ArrowInvalid)."""
    head = source.read(_BLOCK_BYTES)
    types = {**_sample_types(head, complete=len(head) < _BLOCK_BYTES), **(overrides or {})}
    reader = pacsv.open_csv(
        _Replay(head, source),
        # One thread: the upload handler already runs this beside the hashing and the request thread.
        read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=NULL_VALUES, strings_can_be_null=True, check_utf8=check_utf8
        ),
    )
    rows = 0
    nulls = [0] * len(reader.schema)
    for batch in reader:
        rows += batch.num_rows
        for i, col in enumerate(batch.columns):
            nulls[i] += col.null_count
    columns = [{"name": f.name, "dtype": _dtype_name(f.type), "missing": nulls[i]} for i, f in enumerate(reader.schema)]
    return rows, columns


def _ensure_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        while chunk := fh.read(_BLOCK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise FormatError(f"line {_line_of_bad_utf8(path)}: the file is not valid UTF-8 text") from None
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FormatError(f"line {_line_of_bad_utf8(path)}: the file is not valid UTF-8 text") from None


def _checked_columns(path: Path, rows: int, columns: list[dict]) -> tuple[int, list[dict]]:
    if any(c["dtype"] == "binary" for c in columns):  # arrow falls back to binary for bytes that are not UTF-8
        raise FormatError(f"line {_line_of_bad_utf8(path)}: the file is not valid UTF-8 text")
    return rows, columns


class CsvStreamInspector:
    """Parses a CSV on a background thread while it is still arriving, fed chunk by chunk through a pipe.

    The upload handler feeds it, so parsing overlaps with receiving, hashing and writing the file. pyarrow
    parses outside the GIL. `result()` gives (rows, columns) or raises what the parse raised; a failed or
    abandoned stream is simply read again from the finished file by `inspect`.
    """

    def __init__(self):
        import fcntl
        import os
        import threading

        read_fd, self._write_fd = os.pipe()
        try:
            fcntl.fcntl(self._write_fd, 1031, _BLOCK_BYTES)  # F_SETPIPE_SZ: fewer wake-ups
        except OSError:
            pass
        # Buffered: read(n) returns n bytes unless at end of stream, as pyarrow expects of a file.
        self._reader = os.fdopen(read_fd, "rb", buffering=_BLOCK_BYTES)
        self._outcome: tuple | BaseException | None = None
        self._open = True
        self.ascii = True  # while True, the streamed bytes need no UTF-8 check
        self._thread = threading.Thread(target=self._run, name="csv-inspector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = _read_csv(self._reader, check_utf8=False)
        except BaseException as exc:  # handed to the caller of result()
            self._outcome = exc
        finally:
            self._reader.close()  # a writer still feeding now gets BrokenPipeError and stops

    def feed(self, data: bytes) -> None:
        import os

        if not self._open:
            return
        self.ascii = self.ascii and data.isascii()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._write_fd, view) :]
        except OSError:  # the parser stopped early (bad input); the finished file is parsed again
            self.close()

    def close(self) -> None:
        import os

        if self._open:
            self._open = False
            os.close(self._write_fd)

    def result(self) -> tuple[int, list[dict]]:
        self.close()
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


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
            except (ValueError, RecursionError) as exc:  # numbers too long to convert, nesting too deep
                raise FormatError(f"line {number}: unreadable JSON ({exc.__class__.__name__})") from None
            if not isinstance(record, dict):
                raise FormatError(f"line {number}: each line must be a JSON object, found {type(record).__name__}")
            if problem := too_deep(record):
                raise FormatError(f"line {number}: {problem}")
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


# Refuse archives whose arrays would unpack to more than this many times their stored size (zip bombs).
MAX_NPZ_EXPANSION = 200
_NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, OSError)


def _npy_header(fh) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy format version {version}")


def _inspect_npz(path: Path) -> tuple[int, list[dict]]:
    try:
        archive = zipfile.ZipFile(path)
    except _NPZ_ERRORS:
        raise FormatError("not an NPZ file (it is not a zip archive of .npy arrays)") from None
    with archive:
        members = archive.infolist()
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_NPZ_EXPANSION * max(path.stat().st_size, 1) and unpacked > 256 * 1024 * 1024:
            raise FormatError(f"the archive would unpack to {unpacked} bytes, over {MAX_NPZ_EXPANSION}x its size")
        try:
            bad = archive.testzip()
        except _NPZ_ERRORS as exc:
            raise FormatError(f"the archive cannot be read: {exc}") from None
        if bad is not None:
            raise FormatError(f"the archive is corrupt: member '{bad}' fails its CRC check")
        columns = []
        for member in archive.namelist():
            if not member.endswith(".npy"):
                raise FormatError(f"member '{member}' is not a .npy array")
            try:
                with archive.open(member) as fh:
                    shape, _fortran, dtype = _npy_header(fh)
                    header_bytes = fh.tell()
            except ValueError as exc:
                raise FormatError(f"array '{member[:-4]}': {exc}") from None
            except _NPZ_ERRORS as exc:
                raise FormatError(f"array '{member[:-4]}' cannot be read: {exc}") from None
            if dtype.hasobject:
                raise FormatError(f"array '{member[:-4]}' holds Python objects, which are never loaded (no pickle)")
            unsupported = (
                dtype.fields is not None
                or dtype.kind in "VO"
                or (dtype.kind in "fc" and dtype.itemsize > (8 if dtype.kind == "f" else 16))
            )
            if unsupported:
                raise FormatError(
                    f"array '{member[:-4]}' has dtype {dtype}, which Eco does not read; use plain "
                    "integers, floats, booleans or strings"
                )
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            stored = archive.getinfo(member).file_size - header_bytes
            if stored != expected:
                raise FormatError(f"array '{member[:-4]}' holds {stored} bytes of data; its header promises {expected}")
            if not shape:
                raise FormatError(f"array '{member[:-4]}' is a scalar; every array needs a first (row) axis")
            columns.append(
                {
                    "name": member[:-4],
                    "dtype": dtype.str if dtype.byteorder == ">" else str(dtype),
                    "shape": list(shape),
                }
            )
    if not columns:
        raise FormatError("the NPZ archive holds no arrays")
    lengths = {c["shape"][0] for c in columns}
    if len(lengths) != 1:
        detail = ", ".join(f"{c['name']}: {c['shape'][0]}" for c in columns)
        raise FormatError(f"arrays disagree on the number of rows ({detail})")
    return lengths.pop(), columns


def _npz_head(archive: zipfile.ZipFile, name: str, limit: int) -> np.ndarray | None:
    """The first `limit` rows of one array, reading only those bytes (None for Fortran-ordered arrays)."""
    with archive.open(name + ".npy") as fh:
        shape, fortran, dtype = _npy_header(fh)
        if fortran and len(shape) > 1:
            return None
        count = min(limit, shape[0])
        row_items = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        data = fh.read(count * row_items * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).reshape((count, *shape[1:]))


# --- preview --------------------------------------------------------------------------------------


def _cast(value: str, dtype: str):
    if value in NULL_VALUES:
        return None
    try:
        if dtype in ("int64", "uint64"):
            return int(value)
        if dtype in ("float64", "float32"):
            return _jsonable(float(value))
        if dtype == "bool":
            return value.strip().lower() in ("true", "1")
    except ValueError:
        return value
    return value


def _jsonable(value, depth: int = 0):
    """Make a preview value safe for JSON: NaN/inf become None, complex and bytes become text, long text is
    cut, numpy scalars become Python numbers, nesting is bounded."""
    if depth > 32:
        return None
    if isinstance(value, np.generic):
        value = value.item() if not isinstance(value, np.floating) else float(value)
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_TEXT_CHARS else value[:PREVIEW_TEXT_CHARS] + "…"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
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
            rows.append([_jsonable(_cast(v, t)) for v, t in zip(row, dtypes, strict=False)])
    elif fmt == "jsonl":
        for raw in fh:
            if len(rows) >= limit:
                break
            if raw.strip():
                record = json.loads(raw)
                rows.append([_jsonable(record.get(n)) for n in names])
    else:
        with zipfile.ZipFile(fh) as archive:
            arrays = [_npz_head(archive, n, limit) for n in names]
        count = min((len(a) for a in arrays if a is not None), default=0)
        rows = [[_jsonable(a[i].tolist()) if a is not None else None for a in arrays] for i in range(count)]
    return {"columns": names, "rows": rows}


def is_numeric(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # "string", "date", "timestamp", "empty"…
        return False
