"""Regression on a target of any size: training standardises the target with the train rows' statistics and
folds them back into the output layer, so a target around 1e12 (case 21) trains as well as the same target in
trillions (case 21b), and metrics, predictions, served answers, ONNX and int8 exports are in the target's
units. Checkpoints hold the standardised network; resuming folds the scale in once."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml import formats
from ml.artifacts import save_weights
from ml.data import split_indices
from ml.evaluate import metrics_from_outputs, predict
from ml.inference import decode, encode
from ml.optimize import EXPORT_TOLERANCE, export_onnx, quantize_int8, relative_difference
from ml.pipeline import SPLIT_DEFAULTS, encoded_split, train
from ml.runtimes import OnnxRuntime, TorchRuntime
from ml.train import Stopped, TrainingError

CASES = Path(__file__).parents[1] / "data" / "cases"
HUGE, HUGE_TARGET = "21_regression_huge_target", "market_cap_usd"
SCALED, SCALED_TARGET = "21b_regression_same_target_scaled", "market_cap_trillion_usd"


class Reporter:
    """The Reporter protocol in memory. `clone=False` keeps the checkpoint's tensors as given (they may
    share storage with the model's parameters), as a reporter that writes them out at once may."""

    def __init__(self, *, clone=True, stop_after_steps=None):
        self.metrics, self.checkpoint = [], None
        self.clone, self.steps, self.stop_after_steps = clone, 0, stop_after_steps

    def log_metrics(self, step, metrics):
        self.metrics.append((step, dict(metrics)))

    def set_progress(self, fraction):
        pass

    def log(self, message):
        pass

    def save_checkpoint(self, tensors, meta):
        self.checkpoint = ({k: v.clone() if self.clone else v for k, v in tensors.items()}, meta)

    def load_checkpoint(self):
        return self.checkpoint

    def should_stop(self):
        self.steps += 1
        return self.stop_after_steps is not None and self.steps > self.stop_after_steps


def case(name: str) -> dict:
    """The case file's columns as training reads them (the regression target is its last column)."""
    path = CASES / f"{name}.csv"
    target = path.read_text().splitlines()[0].split(",")[-1]
    schema = formats.inspect(path, "csv", formats.Reading(target=target, task="regression")).schema
    return formats.arrays(path, "csv", schema)


def train_on(columns: dict, target: str, reporter=None, **hyperparameters):
    return train(
        columns,
        task="regression",
        target=target,
        architecture="mlp",
        hyperparameters=hyperparameters or None,
        reporter=reporter or Reporter(),
    )


@pytest.fixture(scope="module")
def huge():
    """Case 21 trained with the default recipe, and what its training reported."""
    reporter = Reporter()
    return train_on(case(HUGE), HUGE_TARGET, reporter), reporter


def test_a_huge_target_trains_as_well_as_the_same_target_scaled_down(huge):
    outcome, _ = huge
    scaled = train_on(case(SCALED), SCALED_TARGET)
    assert outcome.hyperparameters == scaled.hyperparameters  # the default recipe for both
    print(f"test R²: case 21 {outcome.metrics['r2']:.4f}, case 21b {scaled.metrics['r2']:.4f}")
    assert outcome.metrics["r2"] >= 0.95
    assert abs(outcome.metrics["r2"] - scaled.metrics["r2"]) <= 0.01
    # errors in the target's units: case 21b is case 21 in trillions
    for key in ("mae", "rmse", "val_mae", "val_rmse"):
        assert outcome.metrics[key] == pytest.approx(scaled.metrics[key] * 1e12, rel=0.02), key


def test_validation_metrics_during_training_are_in_the_target_units(huge):
    outcome, reporter = huge
    last = [m for _, m in reporter.metrics if "val_rmse" in m][-1]
    assert last["epoch"] == outcome.hyperparameters["epochs"]
    # the network after the last epoch is the one returned, so its validation errors are the final ones
    assert last["val_rmse"] == pytest.approx(outcome.metrics["val_rmse"], rel=1e-4)
    assert last["val_mae"] == pytest.approx(outcome.metrics["val_mae"], rel=1e-4)
    assert last["train_loss"] < 0.1  # the loss is on standardised targets (around 1 for a constant guess)


def test_predictions_and_served_answers_are_in_the_target_units(huge, tmp_path):
    outcome, _ = huge
    columns = case(HUGE)
    test = encoded_split(outcome.spec, columns)
    predictions = predict(outcome.model, test.inputs)[:, 0].astype(np.float64)
    assert predictions.min() > 1e11
    assert np.median(np.abs(predictions - test.targets) / test.targets) < 0.05

    path = tmp_path / "model.safetensors"
    save_weights(outcome.model, path)
    features = zip(columns["employees"], columns["age_years"], strict=True)
    rows = [{"employees": float(e), "age_years": float(a)} for e, a in features]
    inputs, _ = encode(outcome.spec, rows)
    labels = np.array([p["label"] for p in decode(outcome.spec, TorchRuntime(outcome.spec, path).run(inputs))])
    assert np.median(np.abs(labels - columns[HUGE_TARGET]) / columns[HUGE_TARGET]) < 0.05


def test_target_statistics_come_from_the_train_rows_only():
    columns = case(HUGE)
    targets = columns[HUGE_TARGET]
    train_index, _, test_index = split_indices(targets.astype(np.float32), **SPLIT_DEFAULTS)
    first = train_on(columns, HUGE_TARGET, epochs=1).spec["preprocessing"]
    train_targets = targets[train_index].astype(np.float32).astype(np.float64)
    assert first["target_mean"] == pytest.approx(train_targets.mean(), rel=1e-12)
    assert first["target_std"] == pytest.approx(train_targets.std(), rel=1e-12)

    held_out = dict(columns, **{HUGE_TARGET: targets.copy()})
    held_out[HUGE_TARGET][test_index[0]] = 9e15
    again = train_on(held_out, HUGE_TARGET, epochs=1).spec["preprocessing"]
    assert (again["target_mean"], again["target_std"]) == (first["target_mean"], first["target_std"])

    trained_on = dict(columns, **{HUGE_TARGET: targets.copy()})
    trained_on[HUGE_TARGET][train_index[0]] = 9e15
    moved = train_on(trained_on, HUGE_TARGET, epochs=1).spec["preprocessing"]["target_mean"]
    assert moved == pytest.approx(first["target_mean"] + (9e15 - targets[train_index[0]]) / len(train_index), rel=1e-6)


def test_onnx_and_int8_exports_answer_in_the_target_units(huge, tmp_path):
    outcome, _ = huge
    test = encoded_split(outcome.spec, case(HUGE))
    eager = predict(outcome.model, test.inputs)
    fp32, int8 = tmp_path / "model.onnx", tmp_path / "int8.onnx"
    export_onnx(outcome.model, outcome.spec, fp32)  # its own parity check passes at this scale

    exported = OnnxRuntime(fp32).run(test.inputs)
    assert exported.min() > 1e11
    assert relative_difference(eager, exported, outcome.spec) <= EXPORT_TOLERANCE
    assert np.allclose(exported, eager, rtol=1e-5, atol=0)  # row by row too
    assert metrics_from_outputs(exported, test.targets, "regression")["r2"] == pytest.approx(
        outcome.metrics["r2"], abs=1e-6
    )

    quantize_int8(fp32, int8)
    quantized = OnnxRuntime(int8).run(test.inputs)
    assert relative_difference(eager, quantized, outcome.spec) < 0.05
    assert metrics_from_outputs(quantized, test.targets, "regression")["r2"] >= outcome.metrics["r2"] - 0.01


def _output_layer_names(model) -> tuple[str, str]:
    names = {id(p): n for n, p in model.named_parameters()}
    return names[id(model.output_layer.weight)], names[id(model.output_layer.bias)]


def test_checkpoints_hold_the_standardised_network_and_resuming_folds_the_scale_once():
    reporter = Reporter(clone=False)
    whole = train_on(case(HUGE), HUGE_TARGET, reporter, epochs=3)
    mean, std = whole.spec["preprocessing"]["target_mean"], whole.spec["preprocessing"]["target_std"]
    weight, bias = _output_layer_names(whole.model)
    tensors, meta = reporter.checkpoint
    state = whole.model.state_dict()
    assert meta["epoch"] == 2
    assert torch.allclose(tensors[f"model.{weight}"].double() * std, state[weight].double(), rtol=1e-6)
    assert torch.allclose(tensors[f"model.{bias}"].double() * std + mean, state[bias].double(), rtol=1e-6)

    # a redelivered job whose last epoch was checkpointed: nothing left to train, the scale folded in once
    again = train_on(case(HUGE), HUGE_TARGET, reporter, epochs=3)
    assert again.fit.epochs_run == 0 and again.spec == whole.spec
    for name, tensor in state.items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert again.metrics == whole.metrics


def test_an_interrupted_regression_resumes_to_the_same_model():
    whole = train_on(case(HUGE), HUGE_TARGET, epochs=3)
    steps_per_epoch = math.ceil(whole.split["train_rows"] / whole.hyperparameters["batch_size"])
    interrupted = Reporter(stop_after_steps=steps_per_epoch + 3)  # dies in the middle of epoch 2
    with pytest.raises(Stopped):
        train_on(case(HUGE), HUGE_TARGET, interrupted, epochs=3)
    assert interrupted.checkpoint[1]["epoch"] == 0
    interrupted.stop_after_steps = None
    resumed = train_on(case(HUGE), HUGE_TARGET, interrupted, epochs=3)
    assert resumed.fit.resumed_from_epoch == 0 and resumed.spec == whole.spec
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor, resumed.model.state_dict()[name], rtol=1e-5, atol=1e-6), name
    assert resumed.metrics["r2"] == pytest.approx(whole.metrics["r2"], abs=1e-6)


def test_answers_that_overflow_float32_in_the_target_units_fail_clearly():
    rows = np.arange(200)
    columns = {"x": (rows % 7).astype(np.float64), "y": (rows % 5) * 1e37}
    with pytest.raises(TrainingError, match="overflow float32 .* lower the learning rate"):
        train_on(columns, "y", epochs=5, lr=10.0)  # standardised, the loss stays finite
    calm = train_on(columns, "y", epochs=2, lr=1e-3)
    assert np.isfinite(calm.metrics["rmse"]) and calm.metrics["rmse"] > 1e36


def test_parity_is_measured_against_the_outputs_scale():
    regression = {"task": "regression", "preprocessing": {"target_std": 7e11}}
    answers = np.array([[1.5e12], [1.8e12]])
    # float32 rounding at ~1e12 is ~1e5: well inside the tolerance, where an absolute 1e-4 would refuse it
    assert relative_difference(answers, answers + 2.6e5, regression) == pytest.approx(2.6e5 / 1.8e12)
    # an answer near zero is measured against the target's spread, not against itself
    assert relative_difference(np.array([[10.0]]), np.array([[11.0]]), regression) == pytest.approx(1 / 7e11)
    # a target in millionths: an export off by half its value fails, where max(1, |output|) let it pass
    tiny = np.full((3, 1), 2e-6)
    assert relative_difference(tiny, tiny * 1.5, {"task": "regression"}) == pytest.approx(0.5)
    # logits: at least an absolute scale of 1
    logits = {"task": "classification"}
    assert relative_difference(np.zeros((1, 3)), np.full((1, 3), 5e-5), logits) == pytest.approx(5e-5)
    assert relative_difference(np.full((1, 3), 20.0), np.full((1, 3), 20.002), logits) == pytest.approx(1e-4)
    assert relative_difference(np.zeros((2, 1)), np.zeros((2, 1)), {"task": "regression"}) == 0.0
    assert relative_difference(np.zeros((2, 1)), np.full((2, 1), 1e-30), {"task": "regression"}) == math.inf
    assert relative_difference(answers, np.full((2, 1), np.nan), regression) == math.inf
