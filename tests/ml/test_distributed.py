"""Fine-tuning in several processes (ml/distributed.py, DistributedDataParallel over gloo on the CPU): two
processes give the weights one process gives with the same global batch and data order; what rank 0 reports
reaches the reporter; a stop is agreed by all ranks and leaves a checkpoint the next run resumes from; a rank
that dies fails the attempt with RankFailed, and a bad setting raised in a rank is the same UserError here."""

import numpy as np
import pytest
import torch

from ml.distributed import RankFailed, launch
from ml.finetune import FineTuneError, finetune, finetune_processes
from ml.train import Stopped
from tests.helpers import review_texts, tiny_bert
from tests.ml.ranks import dies_on_rank_one
from tests.ml.test_pipeline import MemoryReporter

CLASSES = ["neg", "pos"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny"), dropout=0.0)  # dropout would draw other masks per process


@pytest.fixture(scope="module")
def data():
    texts, labels = review_texts(100)
    targets = np.array([CLASSES.index(label) for label in labels])
    return {
        "train_texts": texts[:84],
        "train_targets": targets[:84],
        "validation_texts": texts[84:],
        "validation_targets": targets[84:],
    }


def settings(tiny, data, batch_size, **hyper):
    return {
        "folder": str(tiny),
        **data,
        "classes": CLASSES,
        "method": "full",
        "hyperparameters": {"epochs": 2, "batch_size": batch_size, "lr": 3e-3, "gradient_accumulation": 2, **hyper},
        "lora": None,
        "max_length": 32,
    }


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tiny, data, tmp_path):
    one = finetune(**settings(tiny, data, 16), reporter=MemoryReporter())
    reporter = MemoryReporter()
    two = finetune_processes(2, **settings(tiny, data, 8), reporter=reporter, out=tmp_path / "out")
    assert two.steps == one.steps == 6  # 84 rows, 16 a micro-batch, two a step: 3 steps an epoch
    expected = one.model.state_dict()
    for name, value in two.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-4, msg=name)
    losses = [m["loss"] for _, m in reporter.metrics if "loss" in m]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert [m["epoch"] for _, m in reporter.metrics if "val_accuracy" in m] == [1, 2]
    assert reporter.checkpoint is not None and reporter.checkpoint[1]["step"] == 6  # rank 0's, through the parent


class StopAfter(MemoryReporter):
    """Asks to stop once a step of at least `step` was reported (the parent asks between messages, not steps)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def should_stop(self):
        return self.step is not None and any(s >= self.step for s, _ in self.metrics)


def test_a_stop_is_agreed_and_the_next_run_resumes(tiny, data, tmp_path):
    whole = finetune_processes(2, **settings(tiny, data, 8, epochs=3), reporter=MemoryReporter(), out=tmp_path / "a")
    reporter = StopAfter(4)  # epoch 1 ended at step 3 with a checkpoint
    with pytest.raises(Stopped):  # slowed down so that the parent sees step 4 before the ranks end
        finetune_processes(
            2, **settings(tiny, data, 8, epochs=3), reporter=reporter, out=tmp_path / "b", step_delay_s=0.3
        )
    saved = reporter.checkpoint[1]["step"]
    assert saved in (3, 6)  # the stop lands within a few steps, all ranks at the same one
    reporter.step = None
    resumed = finetune_processes(2, **settings(tiny, data, 8, epochs=3), reporter=reporter, out=tmp_path / "c")
    assert resumed.resumed_from_step == saved and resumed.steps == whole.steps == 9
    assert f"resumed from the checkpoint at step {saved} (epoch {saved // 3})" in reporter.lines
    expected = whole.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-5, msg=name)


def test_a_rank_that_dies_fails_the_attempt():
    with pytest.raises(RankFailed, match=r"training process 1 died \(exit code 3\)"):
        launch(dies_on_rank_one, 2, reporter=MemoryReporter(), kwargs={})


def test_a_bad_setting_in_a_rank_is_the_same_user_error(tiny, data, tmp_path):
    with pytest.raises(FineTuneError, match="no linear layer named nope"):
        finetune_processes(
            2,
            **{**settings(tiny, data, 8), "method": "lora", "lora": {"target_modules": ["nope"]}},
            reporter=MemoryReporter(),
            out=tmp_path / "out",
        )
