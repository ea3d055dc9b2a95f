"""One interface over the three ways Eco runs a trained network: eager PyTorch from safetensors weights,
ONNX Runtime from an exported .onnx graph (fp32 or int8), and TorchScript from a file Eco itself exported.

A runtime is built once (loading is the slow part) and then called many times, from several threads at
once, by the predict endpoint: `run` does no more than convert the input, call the backend and hand back
float32 outputs, so the per-call overhead stays in the tens of microseconds.

Inputs are what `ml.data.prepare` makes: float32 (N, F) for an mlp, float32 (N, C, H, W) for a cnn and
int64 token ids (N, max_len) for a textcnn or transformer. Outputs are float32 (N, num_outputs).

Nothing here changes global torch settings; a serving process sets those itself. It should call
`torch.set_num_threads(1)` (and keep OnnxRuntime's `threads=1`) when it runs one request per worker thread:
on a busy 2-core host the default intra-op pool took a one-row digits cnn from ~0.3 ms to ~45 ms per call
for the torch and torchscript runtimes. The first call or two of a TorchScript module are slower (~5 ms):
its executor profiles them before optimizing, so warm a runtime up before timing or serving it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ml.architectures import TEXT, input_kind
from ml.artifacts import load_model
from ml.errors import UserError

FORMATS = ("safetensors", "onnx", "torchscript", "hf")
"""File formats `load_runtime` accepts: safetensors weights plus a spec, an ONNX graph, a TorchScript file, a
fine-tuned Hugging Face checkpoint folder."""

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(double)": np.float64}


class RuntimeFormatError(UserError):
    """The model file format is not one `load_runtime` knows; the message names it."""


@runtime_checkable
class Runtime(Protocol):
    """A loaded network ready to predict.

    name: "torch", "onnxruntime" or "torchscript".
    run: float32 outputs (N, num_outputs) for a batch of N inputs, any N >= 1; safe to call from several
        threads at once.
    """

    name: str

    def run(self, inputs: np.ndarray) -> np.ndarray: ...


def _input_dtype(spec: dict) -> type[np.generic]:
    """int64 for the token ids of text architectures, float32 for everything else."""
    return np.int64 if input_kind(spec.get("architecture")) == TEXT else np.float32


def _tensor(inputs: np.ndarray, dtype: type[np.generic]) -> torch.Tensor:
    """A CPU tensor sharing memory with `inputs` when it already has the dtype and layout (a read-only
    array, say one made from request bytes, is copied: torch warns about tensors over read-only memory)."""
    array = np.ascontiguousarray(inputs, dtype=dtype)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


class TorchRuntime:
    """Eager PyTorch on the CPU: the spec's network with its safetensors weights (no pickle), in eval mode.

    Runs under `torch.inference_mode()`; an eval-mode module holds no per-call state, so concurrent calls
    are safe. A transformer takes PyTorch's fused encoder fast path here, which gives the same outputs as
    the exported graphs to ~1e-6.
    """

    name = "torch"

    def __init__(self, spec: dict, weights_path: str | Path):
        self.model = load_model(spec, weights_path)
        self.dtype = _input_dtype(spec)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(_tensor(inputs, self.dtype)).float().numpy()


class OnnxRuntime:
    """ONNX Runtime on the CPU, tuned for latency on small batches.

    `threads` is the number of intra-op threads (1 suits a server that runs one request per worker
    thread: no thread pool hand-off per call); inter-op parallelism is off and every graph optimization
    is on. The input's name and dtype are read from the graph, and inputs are cast to that dtype.
    `InferenceSession.run` is thread-safe.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, *, threads: int = 1):
        import onnxruntime as ort

        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        graph_input = self.session.get_inputs()[0]
        if graph_input.type not in _ORT_DTYPES:
            raise ValueError(f"the ONNX graph takes {graph_input.type}, which Eco models never do")
        self.input_name: str = graph_input.name
        self.output_names: list[str] = [self.session.get_outputs()[0].name]
        self.dtype = _ORT_DTYPES[graph_input.type]

    def run(self, inputs: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(inputs, dtype=self.dtype)
        return self.session.run(self.output_names, {self.input_name: batch})[0].astype(np.float32, copy=False)


class TorchScriptRuntime:
    """A TorchScript module loaded to the CPU. `torch.jit.load` runs code stored in the file, so this is
    only ever applied to files Eco itself exported (`ml.optimize.export_torchscript`), never to uploads.

    Inputs are cast to int64 when they are integers (token ids) and to float32 otherwise.
    """

    name = "torchscript"

    def __init__(self, path: str | Path):
        self.module = torch.jit.load(str(path), map_location="cpu")
        self.module.eval()

    def run(self, inputs: np.ndarray) -> np.ndarray:
        dtype = np.int64 if np.issubdtype(np.asarray(inputs).dtype, np.integer) else np.float32
        with torch.inference_mode():
            return self.module(_tensor(inputs, dtype)).float().numpy()


class ProbabilityOutputs:
    """A runtime whose graph gives class probabilities, answering their logarithms instead: everything
    downstream (serving's softmax, evaluation's log loss) takes logits, and softmax(log p) is p again. A
    probability of 0 becomes log(1e-30) rather than minus infinity."""

    def __init__(self, runtime: Runtime):
        self.inner = runtime
        self.name = runtime.name

    def run(self, inputs: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.inner.run(inputs), np.float32(1e-30)))


def load_runtime(
    fmt: str, spec: dict, path: str | Path, *, threads: int = 1, folder: str | Path | None = None
) -> Runtime:
    """The runtime for a model file of format `fmt`: "safetensors" (weights for `spec`, run by PyTorch),
    "onnx" (fp32 or int8 graph, run by ONNX Runtime with `threads` intra-op threads; a brought graph whose
    spec says `"outputs": "probabilities"` is wrapped in ProbabilityOutputs) or "torchscript" (a file Eco
    exported). A fine-tuned Hugging Face checkpoint ("hf", or "onnx" whose spec's preprocessing names the
    `hf` tokenizer) runs on raw texts and needs `folder`, the version's files (`ml.hf.HFRuntime`,
    `ml.hf.HFOnnxRuntime`). Raises RuntimeFormatError for any other format."""
    from ml import hf

    tokenized = (spec.get("preprocessing") or {}).get("tokenizer") == hf.TOKENIZER
    if (fmt == "hf" or tokenized) and folder is None:
        raise RuntimeFormatError("a Hugging Face checkpoint runs from its folder of files; none was given")
    if fmt == "hf":
        return hf.HFRuntime(folder, spec)
    if fmt == "onnx" and tokenized:
        return hf.HFOnnxRuntime(path, folder, spec, threads=threads)
    if fmt == "safetensors":
        return TorchRuntime(spec, path)
    if fmt == "onnx":
        runtime = OnnxRuntime(path, threads=threads)
        return ProbabilityOutputs(runtime) if spec.get("outputs") == "probabilities" else runtime
    if fmt == "torchscript":
        return TorchScriptRuntime(path)
    raise RuntimeFormatError(f"unknown model format {fmt!r}; known: {', '.join(FORMATS)}")
