"""Writes the binary files of the corpus (NPZ, Parquet). Run once from the repository root after changing it:

    .venv/bin/python tests/data/corpus/make_binary.py

and commit what it writes; the test reads the committed files (manifest.json says what each should give).
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
NAN = float("nan")


def npz(name: str, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (HERE / "npz" / name).write_bytes(buffer.getvalue())


def parquet(name: str, table: pa.Table) -> None:
    pq.write_table(table, HERE / "parquet" / name)


def main() -> None:
    # An array of Python objects: np.savez pickles it; Eco must refuse it without unpickling.
    npz("object_array.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    # NaN in a 1-D feature (2 rows) and in one sample of an image-like array; integer labels.
    images = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    images[4, 1, 0] = NAN
    npz(
        "nan.npz",
        x=np.array([0.5, NAN, 1.5, 2.5, NAN, 3.5]),
        img=images,
        y=np.array([0, 1, 2, 0, 1, 2]),
    )
    npz("mismatched_lengths.npz", x=np.zeros((5, 2)), y=np.zeros(4))
    npz("scalar.npz", s=np.array(3.0), y=np.array([0, 1]))
    npz("string_labels.npz", x=np.array([1, 2, 3, 4]), y=np.array(["007", "07", "7", "007"]))
    (HERE / "npz" / "not_a_zip.npz").write_bytes(b"this is plain text, not a zip archive of .npy arrays\n")

    # Nulls in every kind of column, a NaN, the text NA as a feature value and as a label, a dictionary-encoded
    # column, nested values (list, struct), a column of nulls (type null) and a text column of nulls.
    parquet(
        "nulls_dictionary_nested.parquet",
        pa.table(
            {
                "i": pa.array([1, None, 3, 4, 5], pa.int32()),
                "f": pa.array([0.5, None, NAN, 1.5, 2.5], pa.float64()),
                "s": pa.array(["a", "NA", None, "b", "c"], pa.string()),
                "d": pa.array(["red", "blue", None, "red", "red"], pa.string()).dictionary_encode(),
                "lst": pa.array([[1, 2], [], None, [3], [4, 5]], pa.list_(pa.int64())),
                "st": pa.array(
                    [{"a": 1, "b": "x"}, {"a": 2, "b": None}, None, {"a": 4, "b": "y"}, {"a": 5, "b": "z"}],
                    pa.struct([("a", pa.int64()), ("b", pa.string())]),
                ),
                "nothing": pa.nulls(5),
                "blank_text": pa.array([None] * 5, pa.string()),
                "label": pa.array(["p", "NA", "q", None, "p"], pa.string()),
            }
        ),
    )
    # Types the rule maps: float32 and uint8 widen, a decimal is a number, dates and times are ISO text,
    # and an integer classification target is its decimal text.
    parquet(
        "types.parquet",
        pa.table(
            {
                "x": pa.array([0.5, 1.5, 2.5, 3.5], pa.float32()),
                "u": pa.array([1, 2, 255, 0], pa.uint8()),
                "day": pa.array([0, 1, 2, 3], pa.int32()).cast(pa.date32()),
                "price": pa.array([Decimal("1.25"), Decimal("2.50"), Decimal("3.00"), None], pa.decimal128(5, 2)),
                "y": pa.array([7, 7, 1, 10], pa.int64()),
            }
        ),
    )
    (HERE / "parquet" / "not_parquet.parquet").write_bytes(b"a,b,label\n1,2,x\n")


if __name__ == "__main__":
    main()
