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


def test_jsonl_lists_objects_mixed_and_infinity_survive_processing_under_the_rule(tmp_path):
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
    assert written[0]["v"] is None and written[0]["y"] == "P"  # Infinity in a number column is missing
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


def _report(tmp_path, text, fmt, steps, target="y"):
    path = tmp_path / f"in.{fmt}"
    path.write_text(text)
    schema = formats.inspect(path, fmt, formats.Reading(target=target, task="classification")).schema
    checked = processing.check_steps(steps, columns=schema["columns"], target=target)
    return processing.apply_steps(formats.read_table(path, fmt, schema), checked)


def test_fillna_fills_with_a_value_or_a_whole_table_statistic_and_reports_it(tmp_path):
    csv = "age,income,city,y\n20,100,Oslo,a\n,300,,b\n40,NA,Oslo,a\n40,N/A,Rome,b\n,900,Rome,a\n"
    table, report = _report(tmp_path, csv, "csv", [{"op": "fillna", "strategy": "median"}])
    assert table.column("age").to_pylist() == [20.0, 40.0, 40.0, 40.0, 40.0]  # median of 20, 40, 40
    assert table.column("income").to_pylist() == [100.0, 300.0, 300.0, 300.0, 900.0]
    assert table.column("city").to_pylist() == ["Oslo", None, "Oslo", "Rome", "Rome"]  # text: not a median
    assert report[0]["filled"] == {"age": {"count": 2, "value": 40.0}, "income": {"count": 2, "value": 300.0}}

    _, report = _report(tmp_path, csv, "csv", [{"op": "fillna", "strategy": "mean", "columns": ["income"]}])
    assert report[0]["filled"] == {"income": {"count": 2, "value": pytest.approx(1300 / 3)}}

    table, report = _report(tmp_path, csv, "csv", [{"op": "fillna", "strategy": "most_frequent"}])
    assert table.column("city").to_pylist() == ["Oslo", "Oslo", "Oslo", "Rome", "Rome"]  # ties: the smallest
    assert table.column("age").to_pylist() == [20, 40, 40, 40, 40]  # most_frequent keeps integers
    assert report[0]["filled"]["city"] == {"count": 1, "value": "Oslo"}

    table, report = _report(tmp_path, csv, "csv", [{"op": "fillna", "value": "unknown"}])
    assert table.column("city").to_pylist()[1] == "unknown" and table.column("age").null_count == 2
    assert report[0]["filled"] == {"city": {"count": 1, "value": "unknown"}}

    table, out = _run(tmp_path, csv, "csv", [{"op": "fillna", "columns": ["age", "income"], "value": 0}])
    assert table.column("age").to_pylist() == [20, 0, 40, 40, 0]
    schema = formats.inspect(out, "csv", formats.Reading(target="y", task="classification")).schema
    assert {c["name"]: c["missing"] for c in schema["columns"]} == {"age": 0, "income": 0, "city": 1, "y": 0}


@pytest.mark.parametrize(
    "step, field, words",
    [
        ({"strategy": "mean", "value": 1}, "steps[0].value", "exactly one"),
        ({"strategy": "mean", "columns": ["city"]}, "steps[0].columns", "'city' is string; a mean needs numbers"),
        ({"value": "x", "columns": ["age"]}, "steps[0].value", "numeric; fill it with a number"),
        ({"value": 3, "columns": ["city"]}, "steps[0].value", "fill it with a string"),
        ({"value": [1]}, "steps[0].value", "one finite number"),
        ({"value": True, "columns": ["age"]}, "steps[0].value", "numeric"),
        ({"strategy": "median", "columns": ["nope"]}, "steps[0].columns", "no column named 'nope'"),
        ({"strategy": "mean", "columns": ["gone"]}, "steps[0].columns", "no values to compute the mean"),
    ],
)
def test_bad_fillna_steps_name_the_field(step, field, words):
    columns = [
        {"name": "age", "dtype": "int64"},
        {"name": "city", "dtype": "string"},
        {"name": "gone", "dtype": "empty"},
        {"name": "y", "dtype": "string"},
    ]
    with pytest.raises(processing.StepError) as error:
        processing.check_steps([{"op": "fillna", **step}], columns=columns, target="y")
    assert error.value.field == field and words in error.value.message


def test_fillna_with_a_fraction_widens_an_integer_column_and_later_steps_see_it():
    columns = [{"name": "age", "dtype": "int64"}, {"name": "y", "dtype": "string"}]
    steps = [
        {"op": "fillna", "columns": ["age"], "value": 2.5},
        {"op": "filter", "column": "age", "operator": "==", "value": 2.5},  # a float column now takes 2.5
    ]
    checked = processing.check_steps(steps, columns=columns, target="y")
    assert checked[1]["value"] == 2.5


def test_cast_reads_thousands_separators_and_decimal_commas_and_counts_what_it_cannot(tmp_path):
    csv = 'price,qty,note,y\n"1,234.5",1_000,7,a\n1 234,"2,000",x,b\n12.5,3,8,a\nabc,4.0,9,b\n,5.5,10,a\n'
    steps = [
        {"op": "cast", "columns": ["price"], "to": "float64"},
        {"op": "cast", "columns": ["qty"], "to": "int64"},
    ]
    table, report = _report(tmp_path, csv, "csv", steps)
    assert table.column("price").to_pylist() == [1234.5, 1234.0, 12.5, None, None]
    assert table.column("qty").to_pylist() == [1000, 2000, 3, 4, None]  # 5.5 is no integer
    assert report[0]["cast"]["price"] == {"to": "float64", "uncastable": 1, "examples": ["abc"]}  # empty: missing
    assert report[1]["cast"]["qty"] == {"to": "int64", "uncastable": 1, "examples": ["5.5"]}

    csv = 'amount,y\n"1.234,5",a\n"12,5",b\n"3,25",a\n"1 000",b\n"1,234.5",a\n'
    table, report = _report(
        tmp_path, csv, "csv", [{"op": "cast", "columns": ["amount"], "to": "float64", "decimal": ","}]
    )
    assert table.column("amount").to_pylist() == [1234.5, 12.5, 3.25, 1000.0, None]
    assert report[0]["cast"]["amount"]["uncastable"] == 1 and report[0]["cast"]["amount"]["examples"] == ["1,234.5"]

    # numbers to text and back: the written file is a valid version again
    table, out = _run(tmp_path, "n,y\n1,a\n2.5,b\n", "csv", [{"op": "cast", "columns": ["n"], "to": "string"}])
    assert table.column("n").to_pylist() == ["1.0", "2.5"]  # n is a float64 column: its numbers as Python writes them
    formats.inspect(out, "csv", formats.Reading(target="y", task="classification"))


def test_cast_keeps_the_type_in_parquet_and_refuses_bad_steps(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"code": ["007", "1,000", None], "y": ["a", "b", "a"]}), path)
    schema = formats.inspect(path, "parquet", formats.Reading(target="y", task="classification")).schema
    checked = processing.check_steps(
        [{"op": "cast", "columns": ["code"], "to": "int64"}], columns=schema["columns"], target="y"
    )
    table, report = processing.apply_steps(formats.read_table(path, "parquet", schema), checked)
    out = tmp_path / "out.parquet"
    formats.write_table(table, out, "parquet")
    written = formats.inspect(out, "parquet", formats.Reading(target="y", task="classification")).schema
    assert table.column("code").to_pylist() == [7, 1000, None] and report[0]["cast"]["code"]["uncastable"] == 0
    assert written["columns"][0] == {"name": "code", "dtype": "int64", "missing": 1}

    columns = [{"name": "x", "dtype": "string"}, {"name": "y", "dtype": "string"}]
    for step, field in (
        ({"to": "int64"}, "steps[0].columns"),
        ({"columns": ["x"], "to": "date"}, "steps[0].to"),
        ({"columns": ["x"], "to": "float64", "decimal": "'"}, "steps[0].decimal"),
    ):
        with pytest.raises(processing.StepError) as error:
            processing.check_steps([{"op": "cast", **step}], columns=columns, target="y")
        assert error.value.field == field


def test_fillna_and_cast_refuse_npz_arrays_of_more_than_one_axis():
    columns = [
        {"name": "images", "dtype": "float64", "missing": 2, "shape": [10, 8, 8]},
        {"name": "weight", "dtype": "float64", "missing": 1, "shape": [10]},
        {"name": "y", "dtype": "int64", "missing": 0, "shape": [10]},
    ]
    for step in (
        {"op": "fillna", "columns": ["images"], "value": 0},
        {"op": "cast", "columns": ["images"], "to": "int64"},
    ):
        with pytest.raises(processing.StepError) as error:
            processing.check_steps([step], columns=columns, target="y")
        assert "is an array of samples" in error.value.message
    checked = processing.check_steps([{"op": "fillna", "value": 0.0}], columns=columns, target="y")
    assert checked[0]["columns"] == ["weight"]  # by default only the one-value-per-row columns


def test_missing_floats_are_found_by_fillna_and_filter_is_null(tmp_path):
    rows = [{"f": 1.5, "y": "a"}, {"f": None, "y": "b"}, {"f": 2.5, "y": "a"}, {"f": None, "y": "a"}]
    jsonl = "".join(json.dumps(r) + "\n" for r in rows)
    table, _ = _run(tmp_path, jsonl, "jsonl", [{"op": "filter", "column": "f", "operator": "is_null"}])
    assert table.column("y").to_pylist() == ["b", "a"]
    table, report = _report(tmp_path, jsonl, "jsonl", [{"op": "fillna", "strategy": "most_frequent"}])
    assert table.column("f").to_pylist() == [1.5, 1.5, 2.5, 1.5]  # a tie: the smallest
    assert report[0]["filled"] == {"f": {"count": 2, "value": 1.5}}
