"""NPZ: a zip of .npy arrays (numpy.savez, compressed or not), one array per column, all of the same length
along their first axis. An array of more than one axis is one column of samples (images); it reaches
processing as a fixed-size list per row (its shape in the field's metadata) and training as stored.

Never unpickled: arrays of Python objects are refused. Inspection reads each array's header and then its data
in chunks (constant memory) to count NaN rows; zip bombs and arrays whose data do not match their header are
refused before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.formats import rules
from ml.formats.rules import BOOL, FLOAT, INT, STRING, FormatError, Reading

EXTENSIONS = (".npz",)
# Refuse archives whose arrays would unpack to more than this many times their stored size (zip bombs).
MAX_NPZ_EXPANSION = 200
CHUNK_BYTES = 8 << 20
BATCH_ROWS = 65_536
_ERRORS = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, OSError)


def _header(fh) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy format version {version}")


def _dtype(dtype: np.dtype) -> str:
    """The rule's type of an array's values; uint64 is float64, since its values may pass int64's range."""
    if dtype.kind == "u" and dtype.itemsize == 8:
        return FLOAT
    return {"b": BOOL, "i": INT, "u": INT, "f": FLOAT, "c": STRING, "U": STRING, "S": STRING}[dtype.kind]


def _archive(source) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except _ERRORS:
        raise FormatError("not an NPZ file (it is not a zip archive of .npy arrays)") from None


def _nan_rows(fh, shape: tuple, dtype: np.dtype, fortran: bool) -> int:
    """Rows holding a value that is not a finite number (NaN, ±inf), read in chunks of whole rows (a
    Fortran-ordered array: any such value counts once per row it is found in, read column-major)."""
    row_items = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    if row_items == 0 or shape[0] == 0:
        return 0
    if fortran and len(shape) > 1:
        hit = np.zeros(shape[0], dtype=bool)
        total = shape[0] * row_items
        done = 0
        while done < total:
            count = min(max(CHUNK_BYTES // dtype.itemsize, 1), total - done)
            part = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
            rows = (np.arange(done, done + len(part)) % shape[0])[~np.isfinite(part)]
            hit[rows] = True
            done += count
        return int(hit.sum())
    per_chunk = max(CHUNK_BYTES // (row_items * dtype.itemsize), 1)
    nan_rows = 0
    remaining = shape[0]
    while remaining:
        count = min(per_chunk, remaining)
        part = np.frombuffer(fh.read(count * row_items * dtype.itemsize), dtype=dtype).reshape(count, row_items)
        nan_rows += int((~np.isfinite(part)).any(axis=1).sum())
        remaining -= count
    return nan_rows


def inspect(path: Path, reading: Reading) -> tuple[int, list[dict]]:
    with _archive(path) as archive:
        members = archive.infolist()
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_NPZ_EXPANSION * max(path.stat().st_size, 1) and unpacked > 256 * 1024 * 1024:
            raise FormatError(f"the archive would unpack to {unpacked} bytes, over {MAX_NPZ_EXPANSION}x its size")
        try:
            bad = archive.testzip()
        except _ERRORS as exc:
            raise FormatError(f"the archive cannot be read: {exc}") from None
        if bad is not None:
            raise FormatError(f"the archive is corrupt: member '{bad}' fails its CRC check")
        columns = []
        for member in archive.namelist():
            name = member[:-4]
            if not member.endswith(".npy"):
                raise FormatError(f"member '{member}' is not a .npy array")
            try:
                with archive.open(member) as fh:
                    shape, fortran, dtype = _header(fh)
                    header_bytes = fh.tell()
                    _check_dtype(name, dtype)
                    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    stored = archive.getinfo(member).file_size - header_bytes
                    if stored != expected:
                        raise FormatError(
                            f"array '{name}' holds {stored} bytes of data; its header promises {expected}"
                        )
                    if not shape:
                        raise FormatError(f"array '{name}' is a scalar; every array needs a first (row) axis")
                    if 0 in shape[1:]:
                        raise FormatError(f"array '{name}' has shape {tuple(shape)}: its samples hold no values")
                    if reading.label_column(name) and len(shape) != 1:
                        raise FormatError(
                            f"array '{name}' is the target: it needs one value per row, shape ({shape[0]},); "
                            f"it has shape {tuple(shape)}"
                        )
                    if dtype.kind == "f":
                        missing = _nan_rows(fh, shape, dtype, fortran)
                    elif dtype.kind in "US" and len(shape) == 1:
                        missing = _text_missing(fh, name, shape[0], dtype, reading)
                    else:
                        missing = 0
            except ValueError as exc:
                raise FormatError(f"array '{name}': {exc}") from None
            except _ERRORS as exc:
                raise FormatError(f"array '{name}' cannot be read: {exc}") from None
            dtype_name = STRING if reading.label_column(name) and len(shape) == 1 else _dtype(dtype)
            column = {"name": name, "dtype": dtype_name, "missing": missing, "shape": list(shape)}
            column["stored"] = dtype.str if dtype.byteorder == ">" else str(dtype)
            columns.append(column)
    if not columns:
        raise FormatError("the NPZ archive holds no arrays")
    lengths = {c["shape"][0] for c in columns}
    if len(lengths) != 1:
        detail = ", ".join(f"{c['name']}: {c['shape'][0]}" for c in columns)
        raise FormatError(f"arrays disagree on the number of rows ({detail})")
    return lengths.pop(), columns


def _text_missing(fh, name: str, rows: int, dtype: np.dtype, reading: Reading) -> int:
    """Missing values of a 1-D text array under the rule, read in chunks; bytes must be UTF-8 text."""
    per_chunk = max(CHUNK_BYTES // max(dtype.itemsize, 1), 1)
    missing = done = 0
    while done < rows:
        count = min(per_chunk, rows - done)
        part = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
        missing += pc.sum(rules.missing_mask(_text(name, part, done), name, reading)).as_py() or 0
        done += count
    return missing


def _text(name: str, values: np.ndarray, first_row: int = 0) -> pa.Array:
    """A text array as Arrow strings; bytes (dtype S) are decoded as UTF-8, naming the first bad row."""
    if values.dtype.kind == "S":
        try:
            return pa.array([v.decode("utf-8") for v in values.tolist()], type=pa.string())
        except UnicodeDecodeError:
            for row, value in enumerate(values.tolist()):
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise FormatError(
                        f"array '{name}', row {first_row + row + 1}: byte {exc.start + 1} is not UTF-8 text"
                    ) from None
    return pa.array(values.astype(str).tolist(), type=pa.string())


def _check_dtype(name: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise FormatError(f"array '{name}' holds Python objects, which are never loaded (no pickle)")
    if dtype.fields is not None or dtype.kind not in "biufcUS" or (dtype.kind == "f" and dtype.itemsize > 8):
        raise FormatError(
            f"array '{name}' has dtype {dtype}, which Eco does not read; use plain integers, floats, booleans "
            "or strings"
        )


def _column(name: str, values: np.ndarray, reading: Reading) -> pa.Array:
    if not values.dtype.isnative:  # big-endian arrays: Arrow takes the machine's byte order
        values = values.astype(values.dtype.newbyteorder("="))
    if values.dtype.kind == "c":
        values = values.astype(str)  # complex numbers as their text
    if values.ndim > 1:
        flat = values.reshape(len(values), -1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    if values.dtype.kind in "US":
        return _text(name, values)
    if reading.label_column(name):
        return pa.array([rules.label_text(v) for v in values.tolist()], type=pa.string())
    if values.dtype.kind == "u" and values.dtype.itemsize == 8:
        return pa.array(values.astype(np.float64))
    return pa.array(values)


def _field(name: str, values: np.ndarray, array: pa.Array) -> pa.Field:
    metadata = {"shape": json.dumps(list(values.shape[1:]))} if values.ndim > 1 else None
    return pa.field(name, array.type, metadata=metadata)


def batches(source, reading: Reading) -> Iterator[pa.Table]:
    """Tables of up to BATCH_ROWS rows, read from each array's stream in step (constant memory)."""
    with _archive(source) as archive:
        streams, headers = {}, {}
        try:
            for column in reading.columns:
                fh = archive.open(column["name"] + ".npy")
                streams[column["name"]] = fh
                headers[column["name"]] = _header(fh)
            if any(fortran and len(shape) > 1 for shape, fortran, _ in headers.values()):
                yield from _whole(archive, reading)
                return
            total = next(iter(headers.values()))[0][0]
            done = 0
            while done < total:
                count = min(BATCH_ROWS, total - done)
                arrays, fields = [], []
                for name, (shape, _fortran, dtype) in headers.items():
                    items = count * int(np.prod(shape[1:], dtype=np.int64))
                    values = np.frombuffer(streams[name].read(items * dtype.itemsize), dtype=dtype)
                    values = values.reshape(count, *shape[1:])
                    array = _column(name, values, reading)
                    arrays.append(array)
                    fields.append(_field(name, values, array))
                yield _normalized(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), reading)
                done += count
        finally:
            for fh in streams.values():
                fh.close()


def _whole(archive: zipfile.ZipFile, reading: Reading) -> Iterator[pa.Table]:
    """All rows at once: a Fortran-ordered sample array cannot be read row by row."""
    loaded = {}
    for column in reading.columns:
        with archive.open(column["name"] + ".npy") as fh:
            loaded[column["name"]] = np.lib.format.read_array(fh, allow_pickle=False)
    arrays = [_column(n, v, reading) for n, v in loaded.items()]
    fields = [_field(n, v, a) for (n, v), a in zip(loaded.items(), arrays, strict=True)]
    yield _normalized(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), reading)


def _normalized(table: pa.Table, reading: Reading) -> pa.Table:
    """The rule for 1-D columns (NaN as missing); sample columns stay as they are, with their metadata."""
    flat = [f.name for f in table.schema if f.metadata is None]
    normal = rules.normalize(table.select(flat), reading)
    for name in flat:
        table = table.set_column(table.schema.get_field_index(name), name, normal.column(name))
    return table


def arrays(source, reading: Reading) -> dict[str, np.ndarray]:
    """Training arrays: the 1-D arrays as columns under the rule (see ml.formats.arrays), and each array of
    several axes as stored (samples such as images, any dtype), read without pickle."""
    from ml.formats import column_array

    flat = [c for c in reading.columns if len(c.get("shape") or (0,)) == 1]
    out = {}
    if flat:
        parts = list(batches(source, dataclasses.replace(reading, columns=flat)))
        table = pa.concat_tables(parts)
        out = {name: column_array(table.column(name)) for name in table.column_names}
    shaped = [c["name"] for c in reading.columns if len(c.get("shape") or (0,)) > 1]
    if shaped:
        if hasattr(source, "seek"):
            source.seek(0)
        with np.load(source, allow_pickle=False) as npz:
            out.update({name: npz[name] for name in shaped})
    return {c["name"]: out[c["name"]] for c in reading.columns}


def write(table: pa.Table, path: Path) -> dict:
    """Each column as one array: sample columns back to their shape, numbers with NaN for missing values,
    text as unicode arrays."""
    out = {}
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_fixed_size_list(field.type):
            out[field.name] = rules.sample_array(column, field)
        elif pa.types.is_integer(column.type) and column.null_count == 0:
            out[field.name] = column.to_numpy()
        elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            out[field.name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_boolean(column.type) and column.null_count == 0:
            out[field.name] = column.to_numpy(zero_copy_only=False).astype(bool)
        else:
            out[field.name] = np.array(["" if v is None else str(v) for v in column.to_pylist()])
    buffer = io.BytesIO()
    np.savez(buffer, **out)
    Path(path).write_bytes(buffer.getvalue())
    return {}
