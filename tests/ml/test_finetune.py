"""Fine-tuning a tiny randomly initialised BERT (written by the test) in process: full and LoRA learn a toy
review task, a run stopped mid-way resumes from its last checkpoint to weights equal to an uninterrupted
run's, and bad settings are refused naming the setting. On a real worker: tests/worker/test_finetune_job.py."""

import numpy as np
import pytest
import torch

from ml.finetune import FineTuneError, check_settings, finetune
from ml.train import HyperparameterError, Stopped
from tests.helpers import review_texts, tiny_bert
from tests.ml.test_pipeline import MemoryReporter

CLASSES = ["neg", "pos"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def reviews():
    texts, labels = review_texts(200)
    targets = np.array([CLASSES.index(label) for label in labels])
    return texts[:160], targets[:160], texts[160:], targets[160:]


def run(tiny, reviews, reporter, method="full", **hyper):
    train_texts, train_targets, val_texts, val_targets = reviews
    return finetune(
        tiny,
        train_texts,
        train_targets,
        val_texts,
        val_targets,
        classes=CLASSES,
        method=method,
        hyperparameters={"epochs": 3, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0, **hyper},
        lora={"r": 4, "alpha": 8, "dropout": 0.1} if method == "lora" else None,
        max_length=32,
        reporter=reporter,
    )


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_finetune_learns_and_reports(tiny, reviews, method):
    """Full fine-tuning learns the toy task; LoRA on a randomly initialised base cannot learn much (adapters
    need pretrained weights: the packaged MiniLM shows that, tests/worker/), so it is held to what it does:
    the loss falls, only the adapters and the head train, and the merged weights differ from the base only
    in the adapted projections and the new head."""
    reporter = MemoryReporter()
    outcome = run(tiny, reviews, reporter, method=method, epochs=6)
    epochs = [m for _, m in reporter.metrics if "val_accuracy" in m]
    assert len(epochs) == 6
    steps = [m for _, m in reporter.metrics if "tokens_per_s" in m]
    assert len(steps) == outcome.steps == 60
    assert all(m["tokens_per_s"] > 0 and m["memory_mb"] > 0 for m in steps)
    rates = [m["lr"] for m in steps]  # no warm-up here: linear decay from lr to 0 after the last step
    assert rates[0] == pytest.approx(3e-3 * 59 / 60) and rates[-1] == 0 and rates == sorted(rates, reverse=True)
    total = sum(p.numel() for p in outcome.model.parameters())
    assert type(outcome.model).__name__ == "BertForSequenceClassification"
    assert outcome.model.config.id2label == {0: "neg", 1: "pos"}
    if method == "full":
        assert epochs[-1]["val_accuracy"] >= 0.9, epochs
        assert outcome.trainable_parameters == total
        return
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"], epochs
    assert outcome.trainable_parameters < total / 5
    merged = outcome.model.state_dict()
    assert not any("lora" in k for k in merged)  # merged into plain weights
    from safetensors.torch import load_file

    base = load_file(tiny / "model.safetensors")
    changed = {k for k, v in base.items() if f"bert.{k}" in merged and not torch.equal(merged[f"bert.{k}"], v)}
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed), sorted(changed)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_stopped_run_resumes_to_the_same_weights(tiny, reviews, method):
    whole = run(tiny, reviews, MemoryReporter(), method=method, checkpoint_every=4, gradient_accumulation=2)
    # 160 rows, batches of 16, two per step: 5 steps an epoch; checkpoints at step 4 and each epoch's end (5, 10)
    reporter = MemoryReporter(stop_after_steps=7)  # asks to stop before step 8
    with pytest.raises(Stopped):
        run(tiny, reviews, reporter, method=method, checkpoint_every=4, gradient_accumulation=2)
    assert reporter.checkpoint[1]["step"] == 5 and "partial" not in reporter.checkpoint[1]
    reporter.stop_after_steps = None
    resumed = run(tiny, reviews, reporter, method=method, checkpoint_every=4, gradient_accumulation=2)
    assert "resumed from the checkpoint at step 5 (epoch 1)" in reporter.lines
    assert resumed.resumed_from_step == 5 and resumed.steps == whole.steps == 15
    expected, got = weights(whole.model), weights(resumed.model)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)

    # a mid-epoch checkpoint (step 9 of 10) resumes inside the epoch
    reporter = MemoryReporter(stop_after_steps=9)
    with pytest.raises(Stopped):
        run(tiny, reviews, reporter, method=method, checkpoint_every=4, gradient_accumulation=2)
    assert reporter.checkpoint[1]["step"] == 8 and reporter.checkpoint[1]["partial"]["batch"] == 6
    reporter.stop_after_steps = None
    again = run(tiny, reviews, reporter, method=method, checkpoint_every=4, gradient_accumulation=2)
    for name, value in weights(again.model).items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sgd", {}, None, "auto"), "method must be one of full, lora"),
        (("full", {"epochs": 0}, None, "auto"), "hyperparameters: 'epochs' must be between 1 and 1000"),
        (("full", {"momentum": 0.9}, None, "auto"), "unknown hyperparameter(s): momentum"),
        (("full", {}, {"r": 4}, "auto"), "LoRA settings need method lora"),
        (("lora", {}, {"rank": 4}, "auto"), "unknown LoRA setting(s): rank"),
        (("lora", {}, {"r": 0}, "auto"), "lora: 'r' must be between 1 and 1024"),
        (("lora", {}, {"target_modules": "query"}, "auto"), "lora.target_modules: must be a list"),
        (("lora", {}, {"merge": "no"}, "auto"), "lora.merge: must be true or false"),
        (("full", {}, None, "fp16"), "precision must be one of auto, fp32, bf16"),
    ],
)
def test_bad_settings_are_named(args, message):
    with pytest.raises((FineTuneError, HyperparameterError)) as caught:
        check_settings(*args)
    assert message in str(caught.value)


def test_settings_defaults_by_method():
    hyper, lora = check_settings("lora", {"epochs": 2}, None, "auto")
    assert (
        hyper["lr"] == 5e-4
        and hyper["epochs"] == 2
        and lora == {"r": 8, "alpha": 16.0, "dropout": 0.1, "target_modules": None, "merge": True}
    )
    assert check_settings("lora", None, {"merge": False}, "auto")[1]["merge"] is False
    assert check_settings("full", None, None, "auto")[0]["lr"] == 5e-5


def test_unknown_lora_module_is_named(tiny, reviews):
    train_texts, train_targets, val_texts, val_targets = reviews
    with pytest.raises(FineTuneError) as caught:
        finetune(
            tiny,
            train_texts,
            train_targets,
            val_texts,
            val_targets,
            classes=CLASSES,
            method="lora",
            hyperparameters={"epochs": 1},
            lora={"target_modules": ["nope"]},
            max_length=16,
            reporter=MemoryReporter(),
        )
    assert "nope" in str(caught.value)


def test_an_adapter_merges_on_a_base_whose_head_has_another_size(tiny, reviews, tmp_path):
    """A LoRA adapter saved beside its fine-tuned config and tokenizer (what a `lora.merge: false` version
    stores) merges on its base to the network the fine-tune ended with, even when the base brings a head of
    another size (here a three-class classifier fine-tuned first)."""
    from ml.finetune import ADAPTER_CONFIG, ADAPTER_WEIGHTS, load_classifier, logits_of, merge_adapter

    train_texts, train_targets, val_texts, val_targets = reviews
    three = finetune(
        tiny,
        train_texts,
        train_targets % 3,
        val_texts,
        val_targets % 3,
        classes=["a", "b", "c"],
        method="full",
        hyperparameters={"epochs": 1, "batch_size": 32},
        lora=None,
        max_length=32,
        reporter=MemoryReporter(),
    )
    base = tmp_path / "three"
    three.model.save_pretrained(base)
    three.tokenizer.save_pretrained(base)
    adapter = tmp_path / "adapter"
    outcome = finetune(
        base,
        train_texts,
        train_targets,
        val_texts,
        val_targets,
        classes=CLASSES,
        method="lora",
        hyperparameters={"epochs": 2, "batch_size": 16, "lr": 3e-3},
        lora={"r": 4, "alpha": 8, "dropout": 0.0},
        max_length=32,
        reporter=MemoryReporter(),
        adapter_out=adapter,
    )
    assert {ADAPTER_CONFIG, ADAPTER_WEIGHTS} <= {p.name for p in adapter.iterdir()}
    outcome.model.config.save_pretrained(adapter)
    outcome.tokenizer.save_pretrained(adapter)
    merged = tmp_path / "merged"
    _, lora = check_settings("lora", None, {"r": 4, "alpha": 8, "dropout": 0.0}, "auto")
    import torch

    rng = torch.get_rng_state()
    merge_adapter(base, adapter, merged, lora)
    assert torch.equal(torch.get_rng_state(), rng), "merging drew from the caller's RNG (a resumed run's)"
    model, tokenizer = load_classifier(merged)
    assert model.config.num_labels == 2
    expected = logits_of(outcome.model, outcome.tokenizer, val_texts, max_length=32)
    np.testing.assert_allclose(logits_of(model, tokenizer, val_texts, max_length=32), expected, atol=1e-5)
