"""The built-in train loop in several processes (ml.train.fit_processes: DistributedDataParallel over gloo on the
CPU): two processes give the weights one process gives with the same global batch and data order, the epoch's
last, shorter batch included; what rank 0 reports reaches the reporter; a stop is agreed by all ranks and the
next run resumes from the checkpoint it left, to the weights of an uninterrupted run; data the network does not
fit is refused before any process starts."""

import numpy as np
import pytest
import torch

from ml.data import Arrays
from ml.train import Stopped, TrainingError, fit, fit_processes
from tests.ml.test_pipeline import MemoryReporter


def arrays(task: str, rows: int, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, 4)).astype(np.float32)
    if task == "regression":
        return Arrays(inputs, (inputs @ [3.0, -1.0, 0.5, 2.0] + 100.0).astype(np.float32))
    return Arrays(inputs, (inputs[:, 0] + inputs[:, 1] > 0).astype(np.int64) + (inputs[:, 2] > 1))


def spec(task: str) -> dict:
    # no dropout: each rank would draw its own masks
    return {
        "architecture": "mlp",
        "in_features": 4,
        "hidden": [16],
        "num_outputs": 1 if task == "regression" else 3,
        "dropout": 0.0,
    }


@pytest.mark.parametrize(
    ("task", "rows"),
    # 84 = 5 x 16 + 4: rank 1 has no row of the last batch; 90 = 5 x 16 + 10: 8 and 2
    [("classification", 84), ("regression", 90)],
)
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(task, rows, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    train, validation = arrays(task, rows, 0), arrays(task, 20, 1)
    hyper = {"epochs": 3, "lr": 0.01, "log_every": 1}
    one = fit(spec(task), task, train, validation, {**hyper, "batch_size": 16}, MemoryReporter(), device="cpu")
    reporter = MemoryReporter()
    two = fit_processes(
        2,
        spec=spec(task),
        task=task,
        train=train,
        validation=validation,
        hyper={**hyper, "batch_size": 8},
        reporter=reporter,
        tmp_dir=str(tmp),
    )
    expected = one.model.state_dict()
    difference = max((v - expected[k]).abs().max().item() for k, v in two.model.state_dict().items())
    print(f"{task}: largest weight difference {difference:.3g}")
    assert difference <= 1e-4
    assert two.epochs_run == 3 and two.resumed_from_epoch is None and two.target_mean == one.target_mean
    losses = [m["loss"] for _, m in reporter.metrics if "loss" in m]
    assert len(losses) == 18 and all(np.isfinite(losses))  # 6 steps an epoch, rank 0's only
    assert [m["epoch"] for _, m in reporter.metrics if "train_loss" in m] == [1, 2, 3]
    assert reporter.checkpoint is not None and reporter.checkpoint[1]["step"] == 18  # through the parent
    assert list(tmp.iterdir()) == []  # the arrays, weights and messages are gone


class StopAfter(MemoryReporter):
    """Asks to stop once a step of at least `step` was reported (the parent asks between messages, not steps);
    `preempt` makes it a preemption, which saves where the loop is."""

    def __init__(self, step, preempt=False):
        super().__init__()
        self.step, self.preempt = step, preempt

    def should_stop(self):
        return self.step is not None and any(s >= self.step for s, _ in self.metrics)

    def checkpoint_on_stop(self):
        return self.preempt


def test_a_preemption_is_agreed_and_the_next_run_resumes_from_where_it_stopped():
    task, train = "classification", arrays("classification", 84, 0)
    settings = {"spec": spec(task), "task": task, "train": train, "validation": None}
    hyper = {"epochs": 3, "lr": 0.01, "log_every": 1}
    whole = fit(**settings, hyper={**hyper, "batch_size": 16}, reporter=MemoryReporter())  # shown equal above
    reporter = StopAfter(8, preempt=True)  # epoch 1 ends at step 6
    with pytest.raises(Stopped):  # slowed down so that the parent sees step 8 before the ranks end
        fit_processes(2, **settings, hyper={**hyper, "batch_size": 8}, reporter=reporter, step_delay_s=0.2)
    saved = reporter.checkpoint[1]
    assert saved["partial"] is not None and 8 <= saved["step"] < 18, saved  # mid-epoch, all ranks at one step
    reporter.step = None
    resumed = fit_processes(2, **settings, hyper={**hyper, "batch_size": 8}, reporter=reporter)
    assert (
        f"resumed from the on-demand checkpoint at epoch {saved['epoch'] + 1}, step {saved['step']}" in reporter.lines
    )
    assert resumed.epochs_run == 3 - saved["epoch"] and reporter.checkpoint[1]["step"] == 18
    expected = whole.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-4, msg=name)


def test_a_bad_setting_fails_before_any_process_starts():
    train = arrays("classification", 40, 0)
    with pytest.raises(TrainingError, match="num_outputs is 3"):
        fit_processes(
            2,
            spec={**spec("classification"), "num_outputs": 3},
            task="classification",
            train=Arrays(train.inputs, np.arange(40) % 2),  # two classes
            validation=None,
            hyper={"epochs": 1},
            reporter=MemoryReporter(),
        )
