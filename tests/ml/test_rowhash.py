"""ml.rowhash: row content hashes over typed feature values (Django-free)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml import formats, rowhash
from ml.formats import Reading


def _file(tmp_path, name: str, content, target: str = "target"):
    path = tmp_path / name
    if isinstance(content, pa.Table):
        pq.write_table(content, path)
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        path.write_text(content)
    fmt = formats.detect_format(name)
    inspection = formats.inspect(path, fmt, Reading(target=target, task="classification"))
    return path, fmt, inspection.schema


def _hashes(tmp_path, name, content, **kwargs) -> rowhash.RowHashes:
    path, fmt, schema = _file(tmp_path, name, content, **kwargs)
    return rowhash.row_hashes(path, fmt, schema)


def test_the_same_rows_hash_the_same_whatever_the_format_order_and_labels(tmp_path):
    csv = _hashes(tmp_path, "a.csv", "x,y,s,target\n1,2.5,ab,a\n2,-0.0,cd,b\n3,,NA,a\n")
    jsonl = _hashes(
        tmp_path,
        "b.jsonl",
        '{"s": "cd", "target": "z", "y": 0.0, "x": 2.0}\n{"target": "q", "x": 3, "s": null}\n'
        '{"x": 1, "y": 2.5, "s": "ab", "target": "b"}\n',
    )
    parquet = _hashes(
        tmp_path,
        "c.parquet",
        pa.table({"target": ["k", "k", "k"], "y": [None, 2.5, 0.0], "x": [3, 1, 2], "s": [None, "ab", "cd"]}),
    )
    assert csv.rows == jsonl.rows == parquet.rows == 3
    assert csv.columns == ("s", "x", "y")
    assert np.array_equal(csv.hashes, jsonl.hashes) and np.array_equal(csv.hashes, parquet.hashes)


def test_any_changed_feature_value_changes_the_hash(tmp_path):
    base = _hashes(tmp_path, "a.csv", "x,y,s,target\n1,2,ab,a\n")
    for i, text in enumerate(
        ["x,y,s,target\n1,2,Ab,a\n", "x,y,s,target\n1,3,ab,a\n", "x,y,s,target\n2,1,ab,a\n", "x,y,s,target\n1,,ab,a\n"]
    ):
        other = _hashes(tmp_path, f"b{i}.csv", text)
        assert rowhash.overlap(base.hashes, other.hashes) == 0, text


def test_numbers_are_compared_as_numbers(tmp_path):
    ints = _hashes(tmp_path, "a.csv", "x,target\n1,a\n2,a\n-0,a\n")
    floats = _hashes(tmp_path, "b.csv", "x,target\n1.0,a\n2e0,a\n0.0,a\n")
    bools = _hashes(tmp_path, "c.csv", "x,target\ntrue,a\nfalse,a\n")  # training reads them as 1.0 and 0.0
    texts = _hashes(tmp_path, "d.csv", "x,target\n1,a\none,a\n")  # a text column: "1" is text there
    assert np.array_equal(ints.hashes, floats.hashes)
    assert rowhash.overlap(ints.hashes, bools.hashes) == 2
    assert rowhash.overlap(ints.hashes, texts.hashes) == 0


def test_every_spelling_of_missing_is_one_value(tmp_path):
    a = _hashes(tmp_path, "a.csv", "x,s,target\n,,a\nNA,null,b\nNaN,N/A,c\n")
    assert (a.rows, a.distinct) == (3, 1)


def test_duplicates_are_counted_once(tmp_path):
    a = _hashes(tmp_path, "a.csv", "x,target\n1,a\n1,b\n2,a\n1,c\n")
    assert (a.rows, a.distinct) == (4, 2)


def test_columns_are_hashed_in_name_order_without_the_target(tmp_path):
    path, fmt, schema = _file(tmp_path, "a.csv", "b,a,label\n1,2,x\n", target="label")
    assert rowhash.feature_columns(schema) == ["a", "b"]
    swapped = _hashes(tmp_path, "b.csv", "a,b,label\n1,2,x\n", target="label")  # same names, values swapped
    assert rowhash.overlap(rowhash.row_hashes(path, fmt, schema).hashes, swapped.hashes) == 0
    only_a = rowhash.row_hashes(path, fmt, schema, columns=["a"])
    assert only_a.columns == ("a",)
    with pytest.raises(KeyError):
        rowhash.row_hashes(path, fmt, schema, columns=["nope"])


def test_samples_of_an_npz_array_are_hashed_in_order(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 16, size=(50, 4, 4)).astype(np.float64)
    labels = rng.integers(0, 3, size=50)
    a = _hashes(tmp_path, "a.npz", {"images": images, "target": labels})
    monkeypatch.setattr(rowhash, "SAMPLE_CHUNK_VALUES", 16 * 3)  # three samples at a time: the same hashes
    shuffled = np.random.default_rng(1).permutation(50)
    b = _hashes(tmp_path, "b.npz", {"images": images[shuffled].astype(np.uint8), "target": labels[shuffled] + 1})
    assert a.rows == 50 and np.array_equal(a.hashes, b.hashes)
    flipped = images.copy()
    flipped[:, 0, 0], flipped[:, 0, 1] = images[:, 0, 1], images[:, 0, 0]  # two pixels trade places
    unchanged = images[:, 0, 0] == images[:, 0, 1]
    c = _hashes(tmp_path, "c.npz", {"images": flipped, "target": labels})
    assert rowhash.overlap(a.hashes, c.hashes) == int(unchanged.sum()) < 50


def test_long_texts_are_hashed_in_chunks_to_the_same_values(monkeypatch):
    values = pa.array(["", "a", None, "x" * 1000, "héllo", "a", "ab", "ba"])
    whole = rowhash.column_hashes(values)
    monkeypatch.setattr(rowhash, "TEXT_CHUNK_BYTES", 3)
    assert np.array_equal(whole, rowhash.column_hashes(values))
    assert np.array_equal(whole[1:], rowhash.column_hashes(values.slice(1)))  # a slice of a batch
    assert whole[1] == whole[5] and len(set(whole.tolist())) == 7  # "ab" and "ba" differ


def test_overlap_merged_and_bytes():
    a = np.array([1, 5, 9, 2**64 - 1], dtype=np.uint64)
    b = np.array([0, 5, 2**64 - 1], dtype=np.uint64)
    assert rowhash.overlap(a, b) == rowhash.overlap(b, a) == 2
    assert rowhash.overlap(a, np.empty(0, np.uint64)) == 0
    assert rowhash.merged([b, a, a]).tolist() == [0, 1, 5, 9, 2**64 - 1]
    assert np.array_equal(rowhash.from_bytes(rowhash.to_bytes(a)), a)
    assert len(rowhash.to_bytes(a)) == 32
