"""CSV: delimited UTF-8 text with a header row. LF, CRLF and CR-only line endings, a UTF-8 BOM, quoted
fields holding delimiters or newlines, and blank lines are read; `Reading.delimiter` picks the delimiter.

One streaming pass with pyarrow gives the schema, the row count and the missing counts in constant memory.
Every column is read as text and its type settled batch by batch from every value (rules.kind_of_text), so
the type never depends on where an odd value sits. Reading (preview, processing, training) parses cells as
text too and converts them with the same casts (rules.to_rule). A file with a line longer than two blocks is
read in LARGE_BLOCK_BYTES blocks, recorded in its schema.
"""

from __future__ import annotations

import codecs
import csv as pycsv
import math
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ml.formats import rules
from ml.formats.rules import EMPTY, FLOAT, INT, STRING, FormatError, Reading

EXTENSIONS = (".csv",)
# Small blocks keep memory flat: pyarrow's streaming reader reads up to 32 blocks ahead (ARROW-12090). A row
# longer than about two blocks cannot be read: files are read in BLOCK_BYTES; the upload's parse, which runs
# in the web process while the file arrives, in STREAM_BLOCK_BYTES, and a file it cannot read so is read again.
BLOCK_BYTES = 1 << 20
STREAM_BLOCK_BYTES = 1 << 18
# A file with a longer line (a long document, a huge header) is read again in blocks this large; the size is
# recorded in the schema (`block_bytes`) so that every later read of it uses the same.
LARGE_BLOCK_BYTES = 64 << 20
LIKELY_DELIMITERS = (";", "\t", "|", ",")
pycsv.field_size_limit(1 << 30)  # pyarrow accepts long fields; Python's csv module must find errors in them too


def _options(
    reading: Reading,
    types: dict[str, pa.DataType],
    check_utf8: bool = True,
    *,
    scan: bool = False,
    block_bytes: int = BLOCK_BYTES,
):
    """Reader options; `scan`: every cell as text, empty cells as nulls (their count comes for free)."""
    return dict(
        # One thread: the upload handler already runs this beside the hashing and the request thread.
        read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=reading.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""] if scan else ["", *reading.na_values],
            true_values=list(rules.TRUE_VALUES),
            false_values=list(rules.FALSE_VALUES),
            # Outside the scan text columns keep every cell: the rule decides what is missing.
            strings_can_be_null=scan,
            check_utf8=check_utf8,
        ),
    )


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


def _complete_lines(head: bytes, complete: bool) -> bytes:
    if complete:
        return head
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[: cut + 1] if cut >= 0 else head


def _header(head: bytes, reading: Reading) -> list[str]:
    """The column names, checked: none empty, none twice; a one-column header that holds another likely
    delimiter is refused with that delimiter named."""
    first = head.split(b"\n", 1)[0].split(b"\r", 1)[0]
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"line 1, column {exc.start + 1}: the file is not valid UTF-8 text") from None
    try:
        names = pacsv.open_csv(pa.BufferReader(head), **_options(reading, {}, check_utf8=False)).schema.names
    except (pa.ArrowInvalid, UnicodeDecodeError):  # a quoted name that runs on into bad text: read it below
        names = None
    if names is None:
        names = next(pycsv.reader([line], delimiter=reading.delimiter), [])
    if not names or all(not n.strip() for n in names):
        raise FormatError("line 1: the header row is empty")
    if len(names) == 1:
        other = [d for d in LIKELY_DELIMITERS if d != reading.delimiter and d in line]
        if other:
            shown = "a tab" if other[0] == "\t" else f"'{other[0]}'"
            raise FormatError(
                f"line 1: the header is one column, but the file looks like it uses {shown} as its delimiter; "
                f"upload it again with delimiter={other[0]!r}"
            )
    rules.check_names(names, "line 1, ")
    return names


def _scan(source, reading: Reading, check_utf8: bool = True, block_bytes: int = BLOCK_BYTES) -> tuple[int, list[dict]]:
    """One streaming pass over a binary stream: (rows, per column its type and its counts of empty cells
    and of other missing values), the same for any target (see `_columns`).

    Every column is parsed as text and its type settled batch by batch from all of its values, so the type
    never depends on where an odd value sits and nothing is read twice. Raises pa.ArrowInvalid where the
    parser meets a problem in the file (or a row longer than about two blocks)."""
    head = source.read(block_bytes)
    names = _header(_complete_lines(head, len(head) < block_bytes), reading)
    text = {n: pa.string() for n in names}
    options = _options(reading, text, check_utf8, scan=True, block_bytes=block_bytes)
    reader = pacsv.open_csv(_Replay(head, source), **options)
    tokens = pa.array(list(reading.na_values), type=pa.string())
    rows = 0
    empty = dict.fromkeys(names, 0)
    found_tokens = dict.fromkeys(names, 0)
    nans = dict.fromkeys(names, 0)  # missing only if the column ends up a number column
    kinds = dict.fromkeys(names, EMPTY)
    # A number column is settled without looking for missing tokens while no token reads as a number and
    # the column has shown none (see `_numbers`).
    quick = dict.fromkeys(names, not any(_is_number(t) for t in reading.na_values))
    for batch in reader:
        rows += batch.num_rows
        for name, values in zip(names, batch.columns, strict=True):
            empty[name] += values.null_count
            if quick[name] and kinds[name] in (EMPTY, INT, FLOAT):
                settled = _numbers(values, kinds[name])
                if settled is not None:
                    kinds[name] = settled[0]
                    continue
            if len(tokens):
                found = pc.is_in(values, value_set=tokens)  # false on a null (an empty cell)
                if hits := pc.sum(found).as_py() or 0:
                    found_tokens[name] += hits
                    quick[name] = False
                    values = pc.filter(values, pc.invert(found))
            kinds[name], count = rules.kind_of_text(values, kinds[name])
            nans[name] += count
    return rows, [
        {"name": n, "kind": kinds[n], "empty": empty[n], "na": found_tokens[n] + (nans[n] if kinds[n] == FLOAT else 0)}
        for n in names
    ]


def _is_number(token: str) -> bool:
    """True for a missing token that reads as a number other than NaN (`-999`, `0`)."""
    try:
        return not math.isnan(pc.cast(pa.array([token]), pa.float64())[0].as_py())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        pc.cast(pa.array([token]), pa.int64())
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _numbers(values: pa.Array, kind: str) -> tuple[str, int] | None:
    """(type, 0) of a batch of a number column read with its missing tokens left in, when every value in
    it reads as a number other than NaN; else None, and the tokens must be looked for. Used only while no
    token reads as a number other than NaN: then such a batch holds no token (a NaN might be one)."""
    settled, nans = rules.kind_of_text(values, kind)
    return (settled, 0) if settled in (EMPTY, INT, FLOAT) and nans == 0 else None


def _columns(raw: list[dict], reading: Reading) -> list[dict]:
    """Schema columns from a scan's counts: a classification target is text missing only where empty."""
    return [
        {"name": c["name"], "dtype": STRING, "missing": c["empty"]}
        if reading.label_column(c["name"])
        else {"name": c["name"], "dtype": c["kind"], "missing": c["empty"] + c["na"]}
        for c in raw
    ]


def inspect(path: Path, reading: Reading, early: StreamInspector | None = None) -> tuple[int, list[dict]]:
    """(rows, columns) of a complete file; `early` is a parse that already ran while the file arrived
    (used when it read with the same delimiter and missing tokens)."""
    same = early is not None and (early.reading.delimiter, early.reading.na_values) == (
        reading.delimiter,
        reading.na_values,
    )
    if same:
        try:
            rows, columns = early.result(reading)
        except Exception:  # noqa: BLE001 - whatever went wrong, the complete file is read again below
            pass  # that pass finds the bad line
        else:
            if not early.ascii:  # the streaming pass skipped UTF-8 checks; do them now, only if needed
                _ensure_utf8(path)
            return rows, columns
    for block_bytes in (BLOCK_BYTES, LARGE_BLOCK_BYTES):
        try:
            with open(path, "rb") as fh:
                rows, raw = _scan(fh, reading, block_bytes=block_bytes)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "straddl" in message and block_bytes < LARGE_BLOCK_BYTES:
                continue  # a line longer than the blocks: read again in large ones
            if "Empty CSV file" in message:
                raise FormatError("the file has no data rows") from None
            raise FormatError(problem(path, reading, message)) from None
        extra = {"block_bytes": block_bytes} if block_bytes != BLOCK_BYTES else {}
        return rows, _columns(raw, reading), extra


def batches(source, reading: Reading) -> Iterator[pa.Table]:
    """The file (a path or a binary stream) as tables of about one block each, following the rule: cells
    are read as text, as inspection reads them, and converted by the same casts (rules.to_rule), so the
    two never disagree on what is a number."""
    text = {name: pa.string() for name in reading.dtypes()}
    block_bytes = reading.block_bytes or BLOCK_BYTES
    try:
        reader = pacsv.open_csv(source, **_options(reading, text, scan=True, block_bytes=block_bytes))
        for batch in reader:
            yield rules.normalize(batch, reading)
    except pa.ArrowInvalid as exc:  # the stored file was inspected: only a changed reading gets here
        raise FormatError("CSV error: " + str(exc).split("\n")[0]) from None


def write(table: pa.Table, path: Path) -> dict:
    """Write a table as CSV (comma-delimited, missing values as empty cells) that reads back in the same
    column types; returns the reading options the written file needs."""
    columns = [_float_text(c) if pa.types.is_floating(c.type) else c for c in table.columns]
    table = pa.table(columns, names=table.column_names)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return {"delimiter": ","}


def _float_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Arrow writes the float 1.0 as `1`, so a float column of whole numbers would read back as int64: such
    a column is written as text with `.0` after each whole number. Other float columns are left as they are."""
    text = pc.cast(column, pa.string())
    whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
    if not pc.all(pc.or_kleene(pc.is_null(text), whole)).as_py():
        return column  # some value has a point or an exponent: the column reads back as float64
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def _ensure_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise FormatError(_bad_utf8(path)) from None
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FormatError(_bad_utf8(path)) from None


def problem(path: Path, reading: Reading, arrow_message: str) -> str:
    """Find the first bad line with Python's csv module (only on the error path) and describe it; a record
    the module cannot read is named by the line it starts on (where an unclosed quote opens)."""
    start = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = pycsv.reader(fh, delimiter=reading.delimiter, strict=True)
            header = next(reader, [])
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) != len(header):
                    hint = _delimiter_hint(header, row, reading)
                    return f"line {reader.line_num}: expected {len(header)} fields, found {len(row)}{hint}"
                start = reader.line_num + 1
    except UnicodeDecodeError:
        return _bad_utf8(path)
    except pycsv.Error as exc:
        hint = " (a quoted field that starts here never closes)" if "unexpected end of data" in str(exc) else ""
        return f"line {start}: {exc}{hint}"
    return "CSV error: " + arrow_message.split("\n")[0]


def _delimiter_hint(header: list[str], row: list[str], reading: Reading) -> str:
    if reading.delimiter == "," and len(row) > len(header):
        return " (a decimal comma or a thousands separator in an unquoted number? quote such fields, or use ';')"
    return ""


def _bad_utf8(path: Path) -> str:
    with open(path, "rb") as fh:
        for number, line in enumerate(_lines(fh), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, column {exc.start + 1}: the file is not valid UTF-8 text"
    return "the file is not valid UTF-8 text"


def _lines(fh) -> Iterator[bytes]:
    """Physical lines ending in LF, CRLF or a lone CR."""
    rest = b""
    while chunk := fh.read(BLOCK_BYTES):
        parts = re.split(rb"\r\n|\r|\n", rest + chunk)
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


class StreamInspector:
    """Parses a CSV on a background thread while it is still arriving, fed chunk by chunk through a pipe.

    The upload handler feeds it, so parsing overlaps with receiving, hashing and writing the file. pyarrow
    parses outside the GIL. `result()` gives (rows, columns) or raises what the parse raised; a failed or
    abandoned stream is simply read again from the finished file by `inspect`.
    """

    def __init__(self, reading: Reading | None = None):
        import fcntl

        read_fd, self._write_fd = os.pipe()
        try:
            fcntl.fcntl(self._write_fd, 1031, BLOCK_BYTES)  # F_SETPIPE_SZ: fewer wake-ups
        except OSError:
            pass
        # Buffered: read(n) returns n bytes unless at end of stream, as pyarrow expects of a file.
        self._reader = os.fdopen(read_fd, "rb", buffering=BLOCK_BYTES)
        # The form's target and options may arrive after the file: the scan keeps what any target needs
        # (a label column counts only empty cells), and `inspect` reads again if the options differ.
        self.reading = reading or Reading()
        self._outcome: tuple | BaseException | None = None
        self._open = True
        self.ascii = True  # while True, the streamed bytes need no UTF-8 check
        self._thread = threading.Thread(target=self._run, name="csv-inspector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = _scan(self._reader, self.reading, check_utf8=False, block_bytes=STREAM_BLOCK_BYTES)
        except BaseException as exc:  # handed to the caller of result()
            self._outcome = exc
        finally:
            self._reader.close()  # a writer still feeding now gets BrokenPipeError and stops

    def feed(self, data: bytes) -> None:
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
        if self._open:
            self._open = False
            os.close(self._write_fd)

    def result(self, reading: Reading) -> tuple[int, list[dict]]:
        """(rows, columns) as `reading` (its target and task) sees them."""
        self.close()
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        rows, raw = self._outcome
        return rows, _columns(raw, reading)
