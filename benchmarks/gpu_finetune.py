"""The fine-tuning CUDA path with ml/ alone (no database, no server): a tiny BERT (ml.tiny) fine-tuned in full
on made-up reviews on the GPU with `precision: auto` (bf16 autocast), then the same run on the CPU in float32,
and one JSON line: the GPU's tokens/s and peak memory, the CPU's tokens/s, and the parity of the two results
(largest difference of the class probabilities on held-out texts, share of equal predictions) and of their
final weights. Two processes over NCCL run too when the machine has two GPUs.

    python benchmarks/gpu_finetune.py              # on a GPU machine
    python benchmarks/gpu_finetune.py --device cpu # the same script on the CPU twice (a smoke test here)

bf16 rounds every matrix product to 8 bits of mantissa, so the GPU's weights differ from the CPU's by far
more than the 1e-4 of two float32 runs: the parity figures say by how much, and whether the predictions agree.
Needs torch, transformers, tokenizers and numpy (the project's own requirements); writes only to a temporary
folder (a few MB).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Recorder:
    """A Reporter (ml.train.Reporter) that keeps the numbers a run logs and never stops it."""

    def __init__(self) -> None:
        self.points: dict[str, list[float]] = {}

    def log_metrics(self, step, metrics) -> None:
        for key, value in metrics.items():
            self.points.setdefault(key, []).append(float(value))

    def set_progress(self, fraction) -> None:
        pass

    def log(self, message) -> None:
        pass

    def save_checkpoint(self, tensors, meta) -> None:
        pass

    def load_checkpoint(self):
        return None

    def should_stop(self) -> bool:
        return False


def run(folder: Path, device: str, precision: str, data: dict, hyper: dict) -> dict:
    """One fine-tune; its figures, the probabilities on the held-out texts and the final weights (CPU)."""
    import torch

    from ml.evaluate import softmax
    from ml.finetune import finetune, logits_of

    reporter = Recorder()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    started = time.perf_counter()
    outcome = finetune(
        folder,
        data["train_texts"],
        data["train_targets"],
        data["test_texts"],
        data["test_targets"],
        classes=["neg", "pos"],
        method="full",
        hyperparameters=hyper,
        lora=None,
        max_length=32,
        reporter=reporter,
        device=device,
        precision=precision,
    )
    seconds = time.perf_counter() - started
    rates = reporter.points.get("tokens_per_s", [])
    figures = {
        "device": device,
        "precision": precision,
        "seconds": round(seconds, 3),
        "steps": outcome.steps,
        "tokens": outcome.tokens,
        "tokens_per_s": round(outcome.tokens / seconds, 1),
        "tokens_per_s_last_step": round(rates[-1], 1) if rates else None,
        "memory_mb": round(max(reporter.points.get("memory_mb", [0.0])), 1),
    }
    if device.startswith("cuda"):
        figures["peak_cuda_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        figures["gpu"] = torch.cuda.get_device_name(0)
    probabilities = softmax(logits_of(outcome.model, outcome.tokenizer, data["check_texts"], max_length=32))
    weights = {k: v.detach().float().cpu() for k, v in outcome.model.state_dict().items()}
    return {"figures": figures, "probabilities": probabilities, "weights": weights}


def two_gpus(folder: Path, data: dict, hyper: dict) -> dict | None:
    """The same fine-tune on two GPUs over NCCL (ml/distributed.py), half the batch in each: its figures."""
    import torch

    from ml.finetune import finetune_processes

    if torch.cuda.device_count() < 2:
        return None
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        outcome = finetune_processes(
            2,
            reporter=Recorder(),
            out=out,
            device="cuda",
            folder=str(folder),
            train_texts=data["train_texts"],
            train_targets=data["train_targets"],
            validation_texts=data["test_texts"],
            validation_targets=data["test_targets"],
            classes=["neg", "pos"],
            method="full",
            hyperparameters={**hyper, "batch_size": hyper["batch_size"] // 2},
            lora=None,
            max_length=32,
            precision="auto",
        )
        seconds = time.perf_counter() - started
    return {"processes": 2, "backend": "nccl", "seconds": round(seconds, 3), "steps": outcome.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke test")
    parser.add_argument("--rows", type=int, default=2000, help="made-up reviews to fine-tune on")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    from ml.tiny import review_texts, tiny_bert

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device: run with --device cpu for the smoke test"}))
        raise SystemExit(2)
    texts, labels = review_texts(args.rows + 200, seed=1)
    targets = np.array([1 if label == "pos" else 0 for label in labels])
    data = {
        "train_texts": texts[: args.rows],
        "train_targets": targets[: args.rows],
        "test_texts": texts[args.rows :],
        "test_targets": targets[args.rows :],
        "check_texts": texts[args.rows :],
    }
    hyper = {"epochs": args.epochs, "batch_size": 32, "lr": 2e-3, "warmup_ratio": 0.0, "seed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_bert(Path(tmp) / "tiny", hidden=64, layers=2, dropout=0.0)
        accelerated = run(folder, args.device, "auto", data, hyper)
        reference = run(folder, "cpu", "fp32", data, hyper)
        distributed = two_gpus(folder, data, hyper) if args.device.startswith("cuda") else None
    p, q = accelerated["probabilities"], reference["probabilities"]
    weight_diff = max(
        (accelerated["weights"][k] - reference["weights"][k]).abs().max().item() for k in reference["weights"]
    )
    print(
        json.dumps(
            {
                "benchmark": "gpu_finetune",
                "torch": torch.__version__,
                "accelerated": accelerated["figures"],
                "cpu_fp32": reference["figures"],
                "parity": {
                    "max_probability_difference": round(float(np.abs(p - q).max()), 6),
                    "prediction_agreement": round(float((p.argmax(1) == q.argmax(1)).mean()), 4),
                    "max_weight_difference": round(weight_diff, 6),
                    "texts": len(data["check_texts"]),
                },
                "two_gpus_nccl": distributed,
            }
        )
    )


if __name__ == "__main__":
    main()
