"""Raw prediction inputs to model inputs (ml/inference.py): every malformed input is an InputError naming it."""

import numpy as np
import pytest

from ml.inference import InputError, check_label, decode, encode

TABULAR = {
    "task": "classification",
    "target": "y",
    "preprocessing": {
        "kind": "tabular",
        "feature_names": ["a", "b"],
        "input_mean": [1.0, 2.0],
        "input_std": [2.0, 4.0],
        "classes": ["no", "yes"],
    },
}
IMAGE = {
    "task": "classification",
    "target": "y",
    "preprocessing": {
        "kind": "image",
        "feature_names": ["p0", "p1", "p2", "p3"],
        "image_shape": [2, 2],
        "input_mean": 1.0,
        "input_std": 2.0,
        "classes": ["0", "1"],
    },
}
TEXT = {
    "task": "text-classification",
    "target": "y",
    "preprocessing": {"kind": "text", "text_column": "review", "vocab": ["good", "bad"], "max_len": 4},
}


def test_rows_lists_and_objects_encode_the_same_way_and_come_back_as_columns():
    array, logged = encode(TABULAR, [[3, 6], {"a": 3, "b": 6, "y": "yes"}])
    assert np.allclose(array, [[1.0, 1.0], [1.0, 1.0]]) and array.dtype == np.float32
    assert logged == [{"a": 3.0, "b": 6.0}, {"a": 3.0, "b": 6.0}]


def test_images_as_nested_flat_or_channel_lists():
    for image in ([[1, 3], [5, 7]], [1, 3, 5, 7], [[[1, 3], [5, 7]]]):
        array, logged = encode(IMAGE, [image])
        assert array.shape == (1, 1, 2, 2) and np.allclose(array.ravel(), [0, 1, 2, 3])
        assert logged == [{"pixels": [1.0, 3.0, 5.0, 7.0]}]  # in feature-name order: p0, p1, p2, p3


@pytest.mark.parametrize(
    "spec, inputs, index, words",
    [
        (TABULAR, [[1, 2], [1, "2"]], 1, "'b' must be a finite number"),
        (TABULAR, [[1, True]], 0, "finite number"),
        (TABULAR, [[1, 10**400]], 0, "an integer too large for a float"),
        (TABULAR, [[1, float("nan")]], 0, "finite number"),
        (TABULAR, [[1, 2, 3]], 0, "expected 2 feature values, got 3"),
        (TABULAR, [{"a": 1}], 0, "missing feature(s) b"),
        (IMAGE, [[[1, 2], [3]]], 0, "expected a 2x2 image"),
        (IMAGE, ["img"], 0, "an image is a 2x2 list"),
        (TEXT, ["fine", 3], 1, "expected a string"),
        (TEXT, ["nul\x00here"], 0, "NUL character"),
        (TEXT, [{"title": "x"}], 0, "a text input is a string"),
        (TABULAR, [], None, "non-empty list"),
        (TABULAR, [[1, 2], [1, 1e308]], 1, "'b' is 1e+308, outside the float32 range (±3.4e38)"),
        (TABULAR, [{"a": -1e39, "b": 2}], 0, "'a' is -1e+39, outside the float32 range (±3.4e38)"),
        (TABULAR, [[10**39, 2]], 0, "'a' is 1e+39, outside the float32 range"),  # an int a float64 holds
        (IMAGE, [[1, 2, 3, 4], [1, 2, 3, 1e308]], 1, "value 3 is 1e+308, outside the float32 range"),
        (IMAGE, [[[1, 2], [-4e38, 4]]], 0, "value 2 is -4e+38, outside the float32 range"),
        (IMAGE, [{"p0": 1, "p1": 2, "p2": 3, "p3": 1e39}], 0, "'p3' is 1e+39, outside the float32 range"),
    ],
)
def test_malformed_inputs_name_the_input_and_the_problem(spec, inputs, index, words):
    with pytest.raises(InputError) as caught:
        encode(spec, inputs)
    assert caught.value.index == index and words in str(caught.value)


def test_decode_gives_the_likeliest_class_and_every_probability():
    [first, second] = decode(TABULAR, np.array([[2.0, 0.0], [0.0, 3.0]], dtype=np.float32))
    assert first["label"] == "no" and second["label"] == "yes"
    assert sum(first["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert decode({"task": "regression"}, np.array([[1.5]]))[0] == {"label": 1.5, "scores": None}


def test_feedback_labels_are_checked_against_the_classes():
    assert check_label(TABULAR, "yes") == "yes"
    for bad in ("maybe", 10**30, None, 1.5, [1]):
        with pytest.raises(InputError):
            check_label(TABULAR, bad)
    assert check_label({"task": "regression"}, 3) == 3.0
    with pytest.raises(InputError):
        check_label({"task": "regression"}, 10**400)


def test_the_float32_range_is_the_limit_on_both_paths():
    largest = float(np.finfo(np.float32).max)
    for inputs in ([[largest, -largest]], [{"a": largest, "b": -largest}]):  # the bulk path, the per-input path
        array, _ = encode({**TABULAR, "preprocessing": {**TABULAR["preprocessing"], "input_mean": [0, 0]}}, inputs)
        assert np.isfinite(array).all()
    with pytest.raises(InputError, match="outside the float32 range"):
        encode(TABULAR, [[largest * 1.0001, 0]])


def test_a_value_that_standardization_scales_past_float32_is_refused_naming_the_feature():
    spec = {**TABULAR, "preprocessing": {**TABULAR["preprocessing"], "input_std": [1.0, 0.5]}}
    with pytest.raises(InputError) as caught:
        encode(spec, [[1, 2], [1, 3e38]])  # 3e38 fits float32; 3e38 / 0.5 does not
    assert caught.value.index == 1 and "'b' is 3e+38; standardized" in str(caught.value)


@pytest.mark.parametrize(
    "spec, outputs, index",
    [
        (TABULAR, [[1.0, 0.0], [np.nan, 0.0], [np.inf, 1.0]], 1),
        (TABULAR, [[1.0, 0.0], [np.inf, np.inf]], 1),  # softmax of inf - inf would be NaN scores
        ({"task": "regression"}, [[1.5], [-np.inf]], 1),
    ],
)
def test_decode_refuses_non_finite_outputs_naming_the_input(spec, outputs, index):
    with pytest.raises(InputError) as caught:
        decode(spec, np.array(outputs, dtype=np.float32))
    assert caught.value.index == index and "the model's output is not finite for this input" in str(caught.value)
    assert caught.value.field == f"inputs[{index}]"
