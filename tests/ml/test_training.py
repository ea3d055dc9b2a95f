"""The Django-free engine: architectures, data preparation, the train loop and its checkpoints, metrics."""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits

from ml.architectures import SpecError, build_model
from ml.data import DataError, prepare, split_indices
from ml.evaluate import classification_metrics, evaluate, regression_metrics
from ml.train import HyperparameterError, Stopped, TrainingError, fit, hyperparameters


class MemoryReporter:
    """Keeps everything in memory; can ask to stop after a number of steps."""

    def __init__(self, stop_after_steps=None):
        self.metrics, self.lines, self.progress = [], [], []
        self.checkpoint = None
        self.checkpoints_saved = 0
        self.steps = 0
        self.stop_after_steps = stop_after_steps

    def log_metrics(self, step, metrics):
        self.metrics.append((step, dict(metrics)))

    def set_progress(self, fraction):
        self.progress.append(fraction)

    def log(self, message):
        self.lines.append(message)

    def save_checkpoint(self, tensors, meta):
        self.checkpoint = ({k: v.clone() for k, v in tensors.items()}, meta)
        self.checkpoints_saved += 1

    def load_checkpoint(self):
        return self.checkpoint

    def should_stop(self):
        self.steps += 1
        return self.stop_after_steps is not None and self.steps > self.stop_after_steps


def digits_columns():
    bunch = load_digits()
    columns = {f"p{i}": bunch.data[:, i].astype(np.float64) for i in range(64)}
    columns["target"] = bunch.target.astype(np.float64)
    return columns


def digits_split(architecture="cnn"):
    data = prepare(digits_columns(), target="target", task="classification", architecture=architecture)
    train, val, test = split_indices(data.targets, seed=0)
    return data, data.subset(train), data.subset(val), data.subset(test)


def cnn_spec(data):
    return {"architecture": "cnn", "num_outputs": len(data.preprocessing["classes"]), "channels": [16, 32]}


def test_digits_cnn_reaches_090_test_accuracy():
    data, train, val, test = digits_split()
    assert train.inputs.shape[1:] == (1, 8, 8)
    reporter = MemoryReporter()
    result = fit(cnn_spec(data), "classification", train, val, {"epochs": 8, "seed": 1}, reporter)
    scores = evaluate(result.model, test, "classification")
    assert scores["accuracy"] >= 0.9, scores
    assert reporter.progress[-1] == 1.0 and reporter.checkpoints_saved == 8
    keys = {k for _, m in reporter.metrics for k in m}
    assert {"loss", "lr", "samples_per_s", "train_loss", "val_accuracy"} <= keys


def test_training_is_deterministic_and_resumes_exactly_from_a_checkpoint():
    data, train, val, _ = digits_split()
    spec = cnn_spec(data)
    hyper = {"epochs": 3, "seed": 7, "batch_size": 128}
    whole = fit(spec, "classification", train, val, hyper, MemoryReporter())
    again = fit(spec, "classification", train, val, hyper, MemoryReporter())
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name

    steps_per_epoch = math.ceil(len(train) / 128)
    interrupted = MemoryReporter(stop_after_steps=steps_per_epoch + 3)  # dies in the middle of epoch 2
    with pytest.raises(Stopped):
        fit(spec, "classification", train, val, hyper, interrupted)
    assert interrupted.checkpoint[1]["epoch"] == 0
    interrupted.stop_after_steps = None
    resumed = fit(spec, "classification", train, val, hyper, interrupted)
    assert resumed.resumed_from_epoch == 0 and resumed.epochs_run == 2
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor, resumed.model.state_dict()[name], atol=1e-6), name


class PreemptedReporter(MemoryReporter):
    """Asks to stop after some steps as a preemption does: the loop checkpoints where it is first."""

    def checkpoint_on_stop(self):
        return True


def test_a_preempted_run_checkpoints_mid_epoch_and_resumes_to_the_same_weights():
    data, train, val, _ = digits_split()
    spec = cnn_spec(data)
    hyper = {"epochs": 3, "seed": 7, "batch_size": 128}
    whole = fit(spec, "classification", train, val, hyper, MemoryReporter())
    steps_per_epoch = math.ceil(len(train) / 128)
    preempted = PreemptedReporter(stop_after_steps=steps_per_epoch + 3)  # in the middle of epoch 2
    with pytest.raises(Stopped):
        fit(spec, "classification", train, val, hyper, preempted)
    tensors, meta = preempted.checkpoint
    assert meta["epoch"] == 1 and meta["step"] == steps_per_epoch + 3 and meta["partial"]["batch"] == 3
    assert preempted.lines[-1] == f"on-demand checkpoint at epoch 2, step {steps_per_epoch + 3}"
    preempted.stop_after_steps = None
    resumed = fit(spec, "classification", train, val, hyper, preempted)
    assert f"resumed from the on-demand checkpoint at epoch 2, step {steps_per_epoch + 3}" in preempted.lines
    assert resumed.epochs_run == 2  # the rest of epoch 2, then epoch 3
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor, resumed.model.state_dict()[name], atol=1e-6), name
    # the epoch's summary counts every row of the epoch, before and after the preemption
    epoch2 = [m for _, m in preempted.metrics if m.get("epoch") == 2]
    whole_reporter = MemoryReporter()
    fit(spec, "classification", train, val, hyper, whole_reporter)
    expected = [m for _, m in whole_reporter.metrics if m.get("epoch") == 2]
    assert epoch2[0]["train_loss"] == pytest.approx(expected[0]["train_loss"], rel=1e-5)


def test_nan_loss_fails_with_a_clear_error():
    data, train, val, _ = digits_split("mlp")
    spec = {"architecture": "mlp", "in_features": 64, "num_outputs": 10}
    train.inputs[::7] = np.nan  # what a corrupt feature or an exploding network produces
    with pytest.raises(TrainingError, match="the loss became"):
        fit(spec, "classification", train, None, {"epochs": 1}, MemoryReporter())


def test_regression_on_diabetes():
    bunch = load_diabetes()
    columns = {f"x{i}": bunch.data[:, i] for i in range(bunch.data.shape[1])} | {"y": bunch.target}
    data = prepare(columns, target="y", task="regression", architecture="mlp")
    train, _, test = split_indices(data.targets, seed=0, stratify=False)
    spec = {"architecture": "mlp", "in_features": 10, "num_outputs": 1, "hidden": [32]}
    result = fit(spec, "regression", data.subset(train), None, {"epochs": 60, "lr": 0.01}, MemoryReporter())
    scores = evaluate(result.model, data.subset(test), "regression")
    assert scores["r2"] > 0.2 and scores["mae"] < 60, scores


@pytest.mark.parametrize("architecture", ["textcnn", "transformer"])
def test_text_classifiers_learn_a_keyword_rule(architecture):
    rng = np.random.default_rng(0)
    words = ["film", "plot", "actor", "scene", "music", "story", "ending", "camera"]
    texts, labels = [], []
    for i in range(400):
        good = i % 2 == 0
        body = list(rng.choice(words, size=6))
        body.insert(int(rng.integers(0, 6)), "wonderful" if good else "dreadful")
        texts.append(" ".join(body))
        labels.append("pos" if good else "neg")
    columns = {"text": np.array(texts, dtype=object), "label": np.array(labels, dtype=object)}
    data = prepare(columns, target="label", task="text-classification", architecture=architecture, max_len=16)
    assert data.preprocessing["classes"] == ["neg", "pos"] and "wonderful" in data.preprocessing["vocab"]
    train, _, test = split_indices(data.targets, seed=0)
    spec = {
        "architecture": architecture,
        "vocab_size": len(data.preprocessing["vocab"]) + 2,
        "num_outputs": 2,
        "embed_dim": 32,
        "max_len": 16,
    }
    result = fit(spec, "text-classification", data.subset(train), None, {"epochs": 8, "lr": 3e-3}, MemoryReporter())
    assert evaluate(result.model, data.subset(test), "text-classification")["accuracy"] >= 0.95


def test_metrics_match_hand_computed_values():
    targets = np.array([0, 0, 1, 1, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    m = classification_metrics(targets, probabilities)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["confusion_matrix"] == {"labels": ["0", "1", "2"], "matrix": [[1, 1, 0], [0, 2, 0], [0, 0, 1]]}
    assert m["precision_macro"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert m["recall_macro"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.4, 0.8, 0.7, 0.8])))
    r = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert r == {"mae": pytest.approx(1 / 3), "rmse": pytest.approx(math.sqrt(1 / 3)), "r2": pytest.approx(0.5)}


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"architecture": "resnet", "num_outputs": 2}, "'architecture' must be one of"),
        ({"architecture": "mlp", "num_outputs": 2}, "'in_features'"),
        ({"architecture": "mlp", "in_features": 4, "num_outputs": 0}, "'num_outputs'"),
        ({"architecture": "mlp", "in_features": 4, "num_outputs": 2, "hidden": [0]}, "'hidden'"),
        ({"architecture": "cnn", "num_outputs": 2, "dropout": 1.5}, "'dropout'"),
        (
            {"architecture": "transformer", "vocab_size": 9, "num_outputs": 2, "embed_dim": 30, "num_heads": 4},
            "divisible",
        ),
    ],
)
def test_bad_specs_name_the_field(spec, needle):
    with pytest.raises(SpecError, match=needle):
        build_model(spec)


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ({"epochs": 0}, "'epochs'"),
        ({"lr": -1}, "'lr'"),
        ({"batch_size": 2.5}, "'batch_size'"),
        ({"momentum": 0.9}, "unknown hyperparameter"),
        ({"lr": float("nan")}, "'lr'"),
        ({"seed": True}, "'seed'"),
    ],
)
def test_bad_hyperparameters_name_the_key(given, needle):
    with pytest.raises(HyperparameterError, match=needle):
        hyperparameters(given)


def test_data_errors():
    columns = digits_columns()
    with pytest.raises(DataError, match="target column 'label' not found"):
        prepare(columns, target="label", task="classification", architecture="mlp")
    columns["p0"] = np.array(["x"] * len(columns["p0"]), dtype=object)
    with pytest.raises(DataError, match="must be numeric: p0"):
        prepare(columns, target="target", task="classification", architecture="mlp")
    with pytest.raises(DataError, match="regression target must be numeric"):
        prepare(
            {"x": np.ones(3), "y": np.array(["a", "b", "c"], dtype=object)},
            target="y",
            task="regression",
            architecture="mlp",
        )


def test_splits_are_fixed_by_seed_and_stratified():
    targets = np.array([0] * 50 + [1] * 50)
    a = split_indices(targets, seed=3)
    b = split_indices(targets, seed=3)
    c = split_indices(targets, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    assert (targets[a[2]] == 0).sum() == (targets[a[2]] == 1).sum() == 10


def test_weights_round_trip_through_safetensors_and_must_fit_the_spec(tmp_path):
    from ml.artifacts import ArtifactError, check_weights_fit_spec, inspect_safetensors, load_model, save_weights

    spec = {"architecture": "textcnn", "vocab_size": 40, "num_outputs": 3, "embed_dim": 8, "num_filters": 4}
    torch.manual_seed(0)
    model = build_model(spec).eval()
    path = tmp_path / "w.safetensors"
    save_weights(model, path, metadata={"framework": "eco"})
    facts = inspect_safetensors(path)
    check_weights_fit_spec(spec, facts["tensors"])
    tokens = torch.randint(0, 40, (5, 12))
    with torch.no_grad():
        assert torch.equal(model(tokens), load_model(spec, path)(tokens))
    with pytest.raises(ArtifactError, match="'embedding.weight' has shape"):
        check_weights_fit_spec({**spec, "vocab_size": 41}, facts["tensors"])


def test_jsonl_columns_read_back_numeric_and_with_line_separators(tmp_path):
    from ml import formats

    path = tmp_path / "d.jsonl"
    path.write_text('{"x": 1, "t": "a\u2028b", "y": "p"}\n{"x": 2.5, "t": "c", "y": "q"}\n', encoding="utf-8")
    schema = formats.inspect(path, "jsonl", formats.Reading(target="y", task="classification")).schema
    columns = formats.arrays(path, "jsonl", schema)
    assert columns["x"].dtype == np.float64 and columns["x"].tolist() == [1.0, 2.5]
    assert columns["t"].tolist() == ["a\u2028b", "c"]


def test_regression_targets_split_without_stratifying():
    train, val, test = split_indices(np.random.default_rng(0).normal(size=100).astype(np.float32), seed=0)
    assert len(train) + len(val) + len(test) == 100 and len(test) == 20


@pytest.mark.parametrize("value", [1e400, float("nan"), 10**400])
def test_out_of_range_epochs_are_a_hyperparameter_error(value):
    with pytest.raises(HyperparameterError, match="'epochs'"):
        hyperparameters({"epochs": value})


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"architecture": "mlp", "in_features": 64, "num_outputs": 5}, "10 classes"),
        ({"architecture": "mlp", "in_features": 63, "num_outputs": 10}, "in_features is 63"),
        ({"architecture": "cnn", "in_channels": 3, "num_outputs": 10}, "(N, 3, H, W)"),
    ],
)
def test_a_spec_that_does_not_fit_the_data_fails_before_training(spec, needle):
    data, train, _, _ = digits_split("mlp" if spec["architecture"] == "mlp" else "cnn")
    with pytest.raises(TrainingError, match=needle):
        fit(spec, "classification", train, None, {"epochs": 1}, MemoryReporter())
