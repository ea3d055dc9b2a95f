"""options.impute through the pipeline: statistics learnt from the train rows only, missing targets dropped,
drop_rows before the split, the same rows and values in evaluation, and nulls filled (or refused) at serving."""

import numpy as np
import pytest

from ml import impute, inference
from ml.architectures import SpecError
from ml.data import DataError, encode_targets, split_indices
from ml.pipeline import SPLIT_DEFAULTS, encoded_split, evaluate, train
from ml.recipes import build_spec, check_options
from ml.train import NullReporter


class Lines(NullReporter):
    def __init__(self):
        self.lines = []

    def log(self, message):
        self.lines.append(message)


def frame(rows=80, seed=0):
    """Two numeric features with holes (and skewed, so mean, median and mode differ), a text column with
    holes, and a class target with two missing labels."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, rows).astype(np.float64)
    income = np.round(rng.lognormal(10, 1, rows))
    age[rng.choice(rows, 9, replace=False)] = np.nan
    income[rng.choice(rows, 10, replace=False)] = np.nan
    label = np.where(np.nan_to_num(age, nan=40) > 40, "old", "young").astype(object)
    label[[3, 17]] = None
    words = np.array([["red", "blue", "blue"][i % 3] for i in range(rows)], dtype=object)
    words[[1, 2]] = None
    return {"age": age, "income": income, "label": label, "colour": words}


def train_rows(columns, target="label"):
    """The train rows' columns, drawn as the pipeline draws them: rows with a missing target dropped
    first, then the default seeded split."""
    keep = ~impute.missing_target(columns[target])
    kept = {k: v[keep] for k, v in columns.items()}
    targets, _ = encode_targets(kept[target], "classification")
    index, _, _ = split_indices(targets, **SPLIT_DEFAULTS)
    return {k: v[index] for k, v in kept.items()}


def _mode(values):
    values, counts = np.unique(values[~np.isnan(values)], return_counts=True)
    return float(values[counts.argmax()])  # np.unique sorts: the smallest among ties


def fit(columns: dict, strategy: str, reporter, architecture: str = "mlp"):
    """Two epochs of `architecture` on `columns` (target `label`) with options.impute = `strategy`."""
    return train(
        columns,
        task="classification",
        target="label",
        architecture=architecture,
        options={"impute": strategy},
        hyperparameters={"epochs": 2},
        reporter=reporter,
    )


@pytest.mark.parametrize(
    "strategy, statistic", [("mean", np.nanmean), ("median", np.nanmedian), ("most_frequent", _mode)]
)
def test_filling_strategies_learn_from_the_train_rows_only(strategy, statistic):
    columns = frame()
    columns.pop("colour")
    reporter = Lines()
    outcome = fit(columns, strategy, reporter)
    stored = outcome.spec["preprocessing"]["impute"]
    assert stored["strategy"] == strategy and set(stored["values"]) == {"age", "income"}
    train_part = train_rows(columns)
    for name in ("age", "income"):
        assert stored["values"][name] == pytest.approx(statistic(train_part[name]))
        assert stored["values"][name] != pytest.approx(statistic(columns[name]))  # not the all-rows one
    assert "impute" not in outcome.spec  # a data option, not a network option
    assert any("dropped 2 row(s) whose target 'label' is missing" in line for line in reporter.lines)
    assert outcome.split["train_rows"] + outcome.split["validation_rows"] + outcome.split["test_rows"] == 78
    # evaluation fills with the stored values and draws the same test rows
    metrics = evaluate(outcome.model, outcome.spec, columns)
    assert metrics["num_rows"] == outcome.split["test_rows"]


def test_drop_rows_drops_rows_with_a_missing_used_value_before_the_split():
    columns = frame()
    columns.pop("colour")
    reporter = Lines()
    outcome = fit(columns, "drop_rows", reporter)
    complete = ~(np.isnan(columns["age"]) | np.isnan(columns["income"]) | impute.missing_target(columns["label"]))
    split = outcome.split
    assert split["train_rows"] + split["validation_rows"] + split["test_rows"] == complete.sum()
    assert outcome.spec["preprocessing"]["impute"] == {"strategy": "drop_rows", "values": {}}
    assert any("with missing values in age, income" in line for line in reporter.lines)
    test = encoded_split(outcome.spec, columns, split="test")
    assert len(test) == split["test_rows"] and np.isfinite(test.inputs).all()


def test_without_impute_missing_features_are_refused_naming_the_fix():
    columns = frame()
    columns.pop("colour")
    columns["label"][[3, 17]] = "young"
    with pytest.raises(DataError, match="set options.impute"):
        train(columns, task="classification", target="label", architecture="mlp", reporter=NullReporter())


def test_a_missing_regression_target_is_dropped_never_filled():
    columns = frame()
    columns.pop("colour")
    columns.pop("label")
    columns["price"] = np.nan_to_num(columns["income"], nan=1.0) / 1000
    columns["price"][[0, 5]] = np.nan
    columns["income"] = np.nan_to_num(columns["income"], nan=2.0)
    reporter = Lines()
    outcome = train(
        columns,
        task="regression",
        target="price",
        architecture="mlp",
        options={"impute": "mean"},
        hyperparameters={"epochs": 1},
        reporter=reporter,
    )
    assert any("dropped 2 row(s) whose target 'price' is missing" in line for line in reporter.lines)
    assert sum(outcome.split[k] for k in ("train_rows", "validation_rows", "test_rows")) == 78


def review_frame(rows=120):
    texts = np.array([("great fun" if i % 2 else "dull and slow") + f" {i % 7}" for i in range(rows)], dtype=object)
    texts[[4, 9, 30]] = None
    return {"text": texts, "label": np.array(["pos" if i % 2 else "neg" for i in range(rows)], dtype=object)}


def test_text_columns_take_most_frequent_only():
    columns = review_frame()
    with pytest.raises(impute.ImputeError, match="cannot fill text column 'text'"):
        train(
            columns,
            task="text-classification",
            target="label",
            architecture="textcnn",
            options={"impute": "median"},
            reporter=NullReporter(),
        )
    outcome = train(
        columns,
        task="text-classification",
        target="label",
        architecture="textcnn",
        options={"impute": "most_frequent"},
        hyperparameters={"epochs": 1},
        reporter=NullReporter(),
    )
    texts = [t for t in train_rows(columns)["text"] if t is not None]
    values, counts = np.unique(np.array(texts, dtype=str), return_counts=True)
    assert outcome.spec["preprocessing"]["impute"]["values"] == {"text": str(values[counts.argmax()])}
    ids, logged = inference.encode(outcome.spec, [None, {"text": None}, "great fun"])
    assert (ids[0] == ids[1]).all() and logged[0] == {"text": None}


def test_serving_fills_nulls_with_the_stored_values_and_keeps_them_missing_in_the_log():
    spec = {
        "target": "label",
        "preprocessing": {
            "kind": "tabular",
            "feature_names": ["age", "income"],
            "input_mean": [0.0, 0.0],
            "input_std": [1.0, 1.0],
            "impute": {"strategy": "median", "values": {"age": 34.0, "income": 50000.0}},
        },
    }
    array, logged = inference.encode(spec, [[None, 10.0], {"age": 20, "income": None}, [1.0, 2.0]])
    assert array.tolist() == [[34.0, 10.0], [20.0, 50000.0], [1.0, 2.0]]
    assert logged[0] == {"age": None, "income": 10.0} and logged[1] == {"age": 20.0, "income": None}
    refusals = {
        "drop_rows": "'age' is missing; this model was trained with impute drop_rows, which cannot fill it",
        None: "'age' is missing; this model was trained without options.impute, so it cannot fill it",
    }
    for strategy, message in refusals.items():
        spec["preprocessing"]["impute"] = {"strategy": strategy, "values": {}} if strategy else None
        with pytest.raises(inference.InputError) as refused:
            inference.encode(spec, [[1.0, 2.0], {"age": None, "income": 3}])
        assert (refused.value.field, refused.value.message) == ("inputs[1]", message)


def test_impute_is_a_checked_data_option_for_every_architecture():
    for architecture in ("mlp", "cnn", "textcnn", "transformer"):
        assert check_options(architecture, {"impute": "drop_rows"}) == {}
    with pytest.raises(SpecError) as bad:
        check_options("mlp", {"impute": "zero", "hidden": [8]})
    assert bad.value.field == "impute" and "mean, median, most_frequent or drop_rows" in bad.value.message
    columns = frame()
    columns.pop("colour")
    outcome = train(
        columns,
        task="classification",
        target="label",
        architecture="mlp",
        options={"impute": "mean", "hidden": [8]},
        hyperparameters={"epochs": 1},
        reporter=NullReporter(),
    )
    assert outcome.spec["hidden"] == [8]
    test = encoded_split(outcome.spec, columns, split="test")
    assert build_spec("mlp", test, "classification", {"impute": "mean"})["in_features"] == 2


def test_a_column_with_no_train_value_cannot_be_imputed():
    columns = {"x": np.full(30, np.nan), "y": np.arange(30.0), "label": np.array(["a", "b"] * 15, dtype=object)}
    with pytest.raises(impute.ImputeError, match="column 'x' has no value in the train rows"):
        train(
            columns,
            task="classification",
            target="label",
            architecture="mlp",
            options={"impute": "mean"},
            reporter=NullReporter(),
        )


def test_npz_sample_arrays_get_per_element_values():
    rng = np.random.default_rng(1)
    images = rng.random((60, 4, 4))
    images[0, 1, 2] = np.nan
    images[5, 3, 3] = np.nan
    columns = {"images": images, "label": np.array([str(i % 2) for i in range(60)], dtype=object)}
    outcome = train(
        columns,
        task="image-classification",
        target="label",
        architecture="cnn",
        options={"impute": "mean"},
        hyperparameters={"epochs": 1},
        reporter=NullReporter(),
    )
    values = np.asarray(outcome.spec["preprocessing"]["impute"]["values"]["images"])
    assert values.shape == (4, 4) and np.isfinite(values).all()
    image = images[1].tolist()
    image[2][2] = None
    array, _ = inference.encode(outcome.spec, [image])
    pre = outcome.spec["preprocessing"]
    assert array[0, 0, 2, 2] == pytest.approx((values[2, 2] - pre["input_mean"]) / pre["input_std"], rel=1e-5)


def test_infinite_values_of_npz_samples_are_missing_to_the_imputer_as_to_inspection():
    images = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    images[1, 0, 0] = np.inf
    assert impute.missing_mask(images).tolist() == [False, True, False]
    learnt = impute.learn({"x": images[[0, 1]]}, ["x"], "mean")
    assert learnt["values"]["x"] == [[0.0, 3.0], [4.0, 5.0]]  # pixel (0, 0): the inf is left out of its mean
    filled = impute.fill({"x": images}, learnt)["x"]
    assert filled[1, 0, 0] == 0.0 and np.isfinite(filled).all()
