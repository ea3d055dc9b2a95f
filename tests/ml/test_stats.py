"""ml.stats: per-column statistics streamed through the format readers, checked against numpy and Counter on
the same values, in every format, across many batches, and past the bound on distinct values."""

import io
import json
import math
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ml import formats, stats
from ml.formats import jsonl, npz
from ml.formats.rules import FormatError, Reading


def inspected(path: Path, fmt: str, target: str = "label", task: str = "classification"):
    return formats.inspect(path, fmt, Reading(target=target, task=task))


def compute(path: Path, fmt: str, **kwargs) -> dict:
    ins = inspected(path, fmt, **kwargs)
    opened = []

    def opener():
        opened.append(1)
        return open(path, "rb")

    result = stats.column_stats(opener, fmt, ins.schema, ins.num_rows)
    result["passes"] = len(opened)
    return result


def by_name(result: dict) -> dict:
    return {c["name"]: c for c in result["columns"]}


def test_numbers_match_numpy_and_labels_match_counter(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "BATCH_LINES", 97)  # many batches, merged
    rng = np.random.default_rng(0)
    n = 2_000
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.1] = np.nan
    k = rng.integers(-50, 50, n)
    labels = rng.choice(["cat", "dog", "emu", "NA"], n, p=[0.5, 0.3, 0.15, 0.05])
    rows = [
        {"x": None if np.isnan(a) else float(a), "k": int(b), "label": str(c), "flag": bool(b > 0)}
        for a, b, c in zip(x, k, labels, strict=True)
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = compute(path, "jsonl")
    assert result["num_rows"] == n and result["passes"] == 2
    cols = by_name(result)
    present = x[~np.isnan(x)]
    cx = cols["x"]
    assert (cx["dtype"], cx["count"], cx["missing"], cx["unique"]) == (
        "float64",
        len(present),
        n - len(present),
        len(present),
    )
    assert cx["min"] == present.min() and cx["max"] == present.max()
    assert math.isclose(cx["mean"], present.mean(), rel_tol=1e-12)
    assert math.isclose(cx["std"], present.std(), rel_tol=1e-9)
    counts, edges = np.histogram(present, bins=20, range=(present.min(), present.max()))
    assert cx["histogram"]["counts"] == counts.tolist() and sum(cx["histogram"]["counts"]) == cx["count"]
    assert np.allclose(cx["histogram"]["edges"], edges) and len(cx["histogram"]["edges"]) == 21
    assert cx["top"] is None

    ck = cols["k"]
    assert ck["dtype"] == "int64" and (ck["min"], ck["max"]) == (int(k.min()), int(k.max()))
    assert isinstance(ck["min"], int) and ck["unique"] == len(set(k.tolist())) and ck["missing"] == 0

    cl = cols["label"]  # a classification target: "NA" is a label, not missing
    expected = Counter(labels.tolist()).most_common()
    assert cl["top"] == [{"value": v, "count": c} for v, c in expected]
    assert (cl["unique"], cl["count"], cl["missing"]) == (4, n, 0)
    assert all(cl[f] is None for f in ("min", "max", "mean", "std", "histogram"))

    cf = cols["flag"]
    assert cf["dtype"] == "bool" and {t["value"]: t["count"] for t in cf["top"]} == {
        "true": int((k > 0).sum()),
        "false": int((k <= 0).sum()),
    }
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # JSON-safe: no NaN or inf anywhere


def test_csv_missing_values_follow_the_rule_and_match_inspection(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x,y,label,note\n1,2.5,a,NA\n2,,b,hello\n3,NaN,a,\n,inf,,hello\n5,1e3,a,x\n")
    result = compute(path, "csv")
    cols = by_name(result)
    schema_missing = {c["name"]: c["missing"] for c in inspected(path, "csv").schema["columns"]}
    assert {name: c["missing"] for name, c in cols.items()} == schema_missing
    assert (cols["x"]["count"], cols["x"]["missing"], cols["x"]["mean"]) == (4, 1, 2.75)
    assert (cols["y"]["count"], cols["y"]["min"], cols["y"]["max"]) == (2, 2.5, 1000.0)
    assert cols["label"]["top"] == [{"value": "a", "count": 3}, {"value": "b", "count": 1}]
    assert cols["note"]["top"] == [{"value": "hello", "count": 2}, {"value": "x", "count": 1}]
    assert cols["note"]["unique"] == 2 and cols["note"]["missing"] == 2


def test_a_constant_column_an_empty_column_and_extreme_numbers(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("c,e,big,label\n7,,-1e308,a\n7,,1e308,b\n7,,1e308,a\n")
    cols = by_name(compute(path, "csv"))
    assert cols["c"]["histogram"] == {"edges": [7.0, 7.0], "counts": [3]}
    assert (cols["c"]["std"], cols["c"]["unique"]) == (0.0, 1)
    assert cols["e"]["dtype"] == "empty"
    assert (cols["e"]["count"], cols["e"]["missing"], cols["e"]["unique"], cols["e"]["top"]) == (0, 3, 0, [])
    big = cols["big"]  # the range and the squares overflow float64: the edges stay finite, std is null
    assert (big["min"], big["max"]) == (-1e308, 1e308)
    assert all(math.isfinite(e) for e in big["histogram"]["edges"]) and sum(big["histogram"]["counts"]) == 3
    assert big["std"] is None


def test_npz_sample_columns_are_counted_from_the_schema_and_never_read(tmp_path, monkeypatch):
    monkeypatch.setattr(npz, "BATCH_ROWS", 7)
    images = np.random.default_rng(1).random((30, 4, 4))
    images[3, 0, 0] = np.nan
    path = tmp_path / "data.npz"
    np.savez(path, images=images, label=np.array(["a", "b", "c"] * 10), w=np.arange(30.0))
    result = compute(path, "npz", task="image-classification")
    cols = by_name(result)
    assert cols["images"] == {
        "name": "images",
        "dtype": "float64",
        "count": 29,
        "missing": 1,
        **dict.fromkeys(("unique", "min", "max", "mean", "std", "histogram", "top")),
    }
    assert cols["w"]["mean"] == 14.5
    assert cols["w"]["histogram"]["counts"] == np.histogram(np.arange(30.0), bins=20)[0].tolist()
    assert cols["label"]["top"] == [{"value": v, "count": 10} for v in "abc"]
    assert [c["name"] for c in result["columns"]] == ["images", "label", "w"]  # the schema's order

    only_images = tmp_path / "images.npz"
    np.savez(only_images, images=images)
    ins = formats.inspect(only_images, "npz", Reading())
    read = stats.column_stats(lambda: pytest.fail("the file was read"), "npz", ins.schema, ins.num_rows)
    assert read["num_rows"] == 30 and read["columns"][0]["count"] == 29


def test_past_the_bound_unique_is_null_and_the_top_counts_stay_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(npz, "BATCH_ROWS", 500)
    monkeypatch.setattr(stats, "UNIQUE_MAX", 300)
    monkeypatch.setattr(stats, "CANDIDATES", 20)
    rng = np.random.default_rng(2)
    heavy = [f"heavy-{i}" for i in range(12)]
    weights = np.array([400 - 25 * i for i in range(12)])
    values = [h for h, w in zip(heavy, weights, strict=True) for _ in range(w)]
    values += [f"rare-{i}" for i in range(6_000)]  # 6,000 values seen once each
    values = rng.permutation(np.array(values))
    numbers = rng.random(len(values))
    path = tmp_path / "data.npz"
    np.savez(path, text=values, num=numbers)
    result = compute(path, "npz", target=None, task=None)
    cols = by_name(result)
    assert result["passes"] == 2
    assert cols["text"]["unique"] is None and cols["num"]["unique"] is None
    expected = [{"value": v, "count": int(c)} for v, c in Counter(values.tolist()).most_common(10)]
    assert cols["text"]["top"] == expected
    assert cols["text"]["count"] == len(values)


def test_long_values_are_cut_in_top(tmp_path):
    path = tmp_path / "data.csv"
    long = "w" * 500
    path.write_text(f"t,label\n{long},a\n{long},b\n")
    top = by_name(compute(path, "csv"))["t"]["top"]
    assert top == [{"value": "w" * 200 + "…", "count": 2}]


def test_a_file_that_no_longer_matches_its_schema_is_a_format_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x,label\n1,a\n2,b\n")
    ins = inspected(path, "csv")
    path.write_text("x,label\nnot-a-number,a\n")
    with pytest.raises(FormatError, match="column 'x'"):
        stats.column_stats(lambda: open(path, "rb"), "csv", ins.schema, ins.num_rows)


def test_memory_stays_flat_for_a_column_of_distinct_values(monkeypatch):
    """Counters never hold more than the bound: a stream of distinct values keeps at most 2 x CANDIDATES."""
    acc = stats._Values()
    for start in range(0, 400_000, 50_000):
        acc.add(pa.chunked_array([pa.array([f"v{i}" for i in range(start, start + 50_000)])]))
        assert len(acc.summary) <= max(stats.UNIQUE_MAX + 50_000, 2 * stats.CANDIDATES)
    assert not acc.exact and len(acc.summary) <= 2 * stats.CANDIDATES
    numbers = stats._Numbers()
    for start in range(0, 400_000, 50_000):
        numbers.add(pa.chunked_array([pa.array(np.arange(start, start + 50_000, dtype=np.float64))]))
    assert numbers.too_many and numbers.distinct is None and numbers.result()["unique"] is None


def test_works_on_a_binary_stream_as_storage_gives_it(tmp_path):
    data = b"x,label\n1,a\n3,b\n"
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    ins = inspected(path, "csv")
    result = stats.column_stats(lambda: nullcontext(io.BytesIO(data)), "csv", ins.schema, ins.num_rows)
    assert by_name(result)["x"]["mean"] == 2.0
