"""Processing steps on awkward data: types are respected, JSON values the upload accepted survive."""

import json

import pytest

from datasets_app import processing
from ml import formats


def _run(tmp_path, text: str, fmt: str, steps: list[dict], target: str = "y"):
    path = tmp_path / f"in.{fmt}"
    path.write_text(text)
    schema = formats.inspect(path, fmt, formats.Reading(target=target, task="classification")).schema
    checked = processing.check_steps(steps, columns=schema["columns"], target=target)
    table, _ = processing.apply_steps(formats.read_table(path, fmt, schema), checked)
    out = tmp_path / f"out.{fmt}"
    formats.write_table(table, out, fmt)
    return table, out


def test_integer_columns_compare_with_integers(tmp_path):
    csv = "x,y\n1,a\n2,b\n3,c\n"
    table, _ = _run(tmp_path, csv, "csv", [{"op": "filter", "column": "x", "operator": "in", "value": [2, 3.0]}])
    assert table.column("x").to_pylist() == [2, 3]
    columns = [{"name": "x", "dtype": "int64"}, {"name": "y", "dtype": "string"}]
    for value in ([1.5], [2**70]):
        with pytest.raises(processing.StepError) as error:
            processing.check_steps(
                [{"op": "filter", "column": "x", "operator": "in", "value": value}], columns=columns, target="y"
            )
        assert error.value.field == "steps[0].value"


def test_boolean_columns_compare_with_booleans(tmp_path):
    jsonl = "".join(json.dumps({"x": i % 2 == 0, "y": str(i)}) + "\n" for i in range(6))
    table, _ = _run(tmp_path, jsonl, "jsonl", [{"op": "filter", "column": "x", "operator": "==", "value": True}])
    assert table.column("y").to_pylist() == ["0", "2", "4"]
    columns = [{"name": "x", "dtype": "bool"}, {"name": "y", "dtype": "string"}]
    for step in ({"operator": "<", "value": 1}, {"operator": "==", "value": 1}):
        with pytest.raises(processing.StepError):
            processing.check_steps([{"op": "filter", "column": "x", **step}], columns=columns, target="y")


def test_jsonl_lists_objects_mixed_and_infinity_survive_processing(tmp_path):
    rows = [
        {"tags": ["a", "b"], "meta": {"k": 1}, "m": 1, "big": 2**64, "v": float("inf"), "y": "p"},
        {"tags": ["a", "b"], "meta": {"k": 1}, "m": "one", "big": 1, "v": 1.5, "y": "p"},
        {"tags": ["a", "b"], "meta": {"k": 1}, "m": "one", "big": 1, "v": 1.5, "y": "p"},
        {"tags": [], "meta": None, "m": 2.5, "big": 3, "v": 2.0, "y": "q", "__row__": 1},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    table, out = _run(tmp_path, text, "jsonl", [{"op": "dedupe"}, {"op": "map_labels", "mapping": {"p": "P"}}])
    assert table.num_rows == 3  # the exact duplicate is gone
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[0]["v"] == float("inf") and written[0]["y"] == "P"
    assert json.loads(written[0]["tags"]) == ["a", "b"]  # kept as its JSON text
    # the output is a valid version again
    formats.inspect(out, "jsonl", formats.Reading(target="y", task="classification"))


def test_thresholds_on_integer_columns_may_be_fractional(tmp_path):
    csv = "age,y\n29,a\n30,b\n31,c\n"
    table, _ = _run(tmp_path, csv, "csv", [{"op": "filter", "column": "age", "operator": ">", "value": 30.5}])
    assert table.column("age").to_pylist() == [31]
    table, _ = _run(tmp_path, csv, "csv", [{"op": "filter", "column": "age", "operator": "<", "value": 1e20}])
    assert table.num_rows == 3
    columns = [{"name": "age", "dtype": "int64"}, {"name": "y", "dtype": "string"}]
    with pytest.raises(processing.StepError):  # equality with a fraction can never hold
        processing.check_steps(
            [{"op": "filter", "column": "age", "operator": "==", "value": 30.5}], columns=columns, target="y"
        )


def test_npz_sample_columns_are_processed_whole_and_written_back_in_shape(tmp_path):
    import numpy as np

    path = tmp_path / "in.npz"
    images = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    images[1, 0, 2] = np.nan
    images = np.concatenate([images, images[3:]])  # a duplicate sample, which dedupe drops
    np.savez(path, x=images, y=np.array([3, 1, 3, 2, 2]))
    schema = formats.inspect(path, "npz", formats.Reading(target="y", task="classification")).schema
    assert schema["columns"][0]["missing"] == 1  # the sample holding a NaN
    for bad in ({"op": "standardize", "columns": ["x"]}, {"op": "filter", "column": "x", "operator": "is_null"}):
        with pytest.raises(processing.StepError, match="array of samples"):
            processing.check_steps([bad], columns=schema["columns"], target="y")
    steps = processing.check_steps([{"op": "dropna"}, {"op": "dedupe"}], columns=schema["columns"], target="y")
    table, report = processing.apply_steps(formats.read_table(path, "npz", schema), steps)
    assert [r["rows_after"] for r in report] == [4, 3]
    out = tmp_path / "out.npz"
    formats.write_table(table, out, "npz")
    with np.load(out) as written:
        assert written["x"].shape == (3, 2, 3) and np.array_equal(written["x"], images[[0, 2, 3]])
        assert written["y"].tolist() == ["3", "3", "2"]
