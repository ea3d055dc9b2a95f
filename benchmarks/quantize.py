"""Dynamic int8 against fp32 for two digits models, in process (no server, no database, no Django).

A digits CNN and a digits MLP are trained with ml.pipeline.train on scikit-learn's digits in the layout the
platform stores them (64 pixel columns and `target`, as the builtin CSV reads back), exported to fp32 ONNX
(ml.optimize.export_onnx) and quantized (ml.optimize.quantize_int8). For each model:
  - size: safetensors, fp32 ONNX and int8 ONNX files, and the int8 / fp32 ratio;
  - accuracy on the held-out test split (ml.pipeline.encoded_split with the training split settings) for
    torch fp32, ONNX fp32 and ONNX int8, the change int8 - fp32, and how many predictions int8 changes;
  - parity: max |logit difference| of ONNX fp32 and ONNX int8 against torch fp32, over the test split;
  - latency p50 / p99 (ms per call) for batches of 1 and 64, each runtime (ml.optimize.latency_ms),
    with torch.set_num_threads(1) and ONNX Runtime's one intra-op thread (as the web process serves).
Run: .venv/bin/python benchmarks/quantize.py [--cnn-epochs 10] [--mlp-epochs 40] [--repeats 200]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ml import optimize  # noqa: E402
from ml.artifacts import save_weights  # noqa: E402
from ml.evaluate import metrics_from_outputs  # noqa: E402
from ml.inference import run_batched  # noqa: E402
from ml.pipeline import SPLIT_DEFAULTS, encoded_split, train  # noqa: E402
from ml.runtimes import OnnxRuntime, TorchRuntime  # noqa: E402
from ml.train import NullReporter  # noqa: E402


def digits_columns() -> dict[str, np.ndarray]:
    """scikit-learn's digits as the platform's builtin CSV reads back (datasets_app/bundled.py): one float64
    column per pixel, named like `pixel_0_0`, and the class index as a float64 `target`."""
    import re

    from sklearn.datasets import load_digits

    bunch = load_digits()
    names = [re.sub(r"_+", "_", re.sub(r"[^0-9a-zA-Z]+", "_", f)).strip("_").lower() for f in bunch.feature_names]
    columns = {name: bunch.data[:, i].astype(np.float64) for i, name in enumerate(names)}
    columns["target"] = bunch.target.astype(np.float64)
    return columns


def latency(runtime, inputs: np.ndarray, repeats: int) -> dict:
    out = {}
    for batch in (1, 64):
        figures = optimize.latency_ms(runtime, inputs, batch=batch, repeats=repeats)
        out[f"batch_{batch}"] = {"p50_ms": round(figures["p50"], 4), "p99_ms": round(figures["p99"], 4)}
    return out


def accuracy(outputs: np.ndarray, targets: np.ndarray, task: str) -> float:
    return round(float(metrics_from_outputs(outputs, targets, task)["accuracy"]), 6)


def measure(architecture: str, epochs: int, columns: dict, tmp: Path, repeats: int) -> dict:
    started = time.perf_counter()
    torch.manual_seed(0)
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture=architecture,
        hyperparameters={"epochs": epochs, "seed": 0},
        reporter=NullReporter(),
    )
    train_s = time.perf_counter() - started
    spec = outcome.spec
    split = {k: v for k, v in outcome.split.items() if k in SPLIT_DEFAULTS}
    test = encoded_split(spec, columns, split="test", split_config=split)

    weights, fp32, int8 = (
        tmp / f"{architecture}.safetensors",
        tmp / f"{architecture}.onnx",
        tmp / f"{architecture}-int8.onnx",
    )
    save_weights(outcome.model, weights)
    optimize.export_onnx(outcome.model, spec, fp32)
    optimize.quantize_int8(fp32, int8)
    runtimes = {
        "torch_fp32": TorchRuntime(spec, weights),
        "onnx_fp32": OnnxRuntime(fp32),
        "onnx_int8": OnnxRuntime(int8),
    }
    outputs = {name: run_batched(runtime, test.inputs) for name, runtime in runtimes.items()}
    scores = {name: accuracy(out, test.targets, spec["task"]) for name, out in outputs.items()}
    labels = {name: out.argmax(axis=1) for name, out in outputs.items()}
    sizes = {
        "safetensors": optimize.file_size(weights),
        "onnx_fp32": optimize.file_size(fp32),
        "onnx_int8": optimize.file_size(int8),
    }
    return {
        "epochs": epochs,
        "train_seconds": round(train_s, 2),
        "parameters": sum(p.numel() for p in outcome.model.parameters()),
        "test_rows": len(test),
        "size_bytes": {**sizes, "int8_over_fp32": round(sizes["onnx_int8"] / sizes["onnx_fp32"], 4)},
        "accuracy": {
            **scores,
            "int8_minus_fp32": round(scores["onnx_int8"] - scores["onnx_fp32"], 6),
            "int8_changed_predictions": int((labels["onnx_int8"] != labels["onnx_fp32"]).sum()),
            "pipeline_reported": round(float(outcome.metrics["accuracy"]), 6),
        },
        "parity_max_abs_logit_diff": {
            "onnx_fp32_vs_torch": optimize.max_abs_difference(outputs["torch_fp32"], outputs["onnx_fp32"]),
            "onnx_int8_vs_torch": optimize.max_abs_difference(outputs["torch_fp32"], outputs["onnx_int8"]),
            "onnx_int8_vs_onnx_fp32": optimize.max_abs_difference(outputs["onnx_fp32"], outputs["onnx_int8"]),
            "max_abs_logit": float(np.abs(outputs["torch_fp32"]).max()),
        },
        "latency_ms": {name: latency(runtime, test.inputs, repeats) for name, runtime in runtimes.items()},
        "float_weights_left_in_int8": optimize.float_weights(int8),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cnn-epochs", type=int, default=10)
    parser.add_argument("--mlp-epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    torch.set_num_threads(1)  # the way a web process serves (models_app/serving.py, ECO_SERVING_THREADS=1)
    columns = digits_columns()
    with tempfile.TemporaryDirectory(prefix="eco-bench-quantize-", dir=os.environ.get("ECO_BENCH_TMP")) as tmp:
        models = {
            "digits_cnn": measure("cnn", args.cnn_epochs, columns, Path(tmp), args.repeats),
            "digits_mlp": measure("mlp", args.mlp_epochs, columns, Path(tmp), args.repeats),
        }
    print(
        json.dumps(
            {
                "benchmark": "quantize",
                "quantization": "dynamic int8 (onnxruntime quantize_dynamic, per-channel symmetric weights)",
                "torch_threads": torch.get_num_threads(),
                "onnxruntime_intra_op_threads": 1,
                "latency_repeats": args.repeats,
                "models": models,
                "total_seconds": round(time.perf_counter() - began, 1),
                "cpu_count": os.cpu_count(),
                "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            }
        )
    )


if __name__ == "__main__":
    main()
