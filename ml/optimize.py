"""Export a trained network for serving (ONNX, TorchScript), quantize an ONNX graph to int8, and measure
what that bought: output differences, latency and file size.

Every export is checked before it is accepted: the file is loaded back by the runtime that will serve it
and run on batches of 1 and 3 rows, and its outputs must match eager PyTorch in eval mode (the way
`ml.runtimes.TorchRuntime` serves the model) to within `EXPORT_TOLERANCE` of the outputs' scale (see
`relative_difference`), so a regression answering in units of 1e12 is held to the same relative precision
as one answering in units of 1e-6, and logits to an absolute 1e-4.

Transformers: in eval mode without gradients PyTorch runs `nn.TransformerEncoderLayer` through a fused
"fast path" op that neither the ONNX exporter nor a faithful trace can use, so exports trace the ordinary
layer code with the fast path switched off (`torch.backends.mha`, process-wide, only while tracing; other
threads serving eager models meanwhile take the ordinary path, which gives the same outputs).

Quantization is dynamic int8 (`onnxruntime.quantization.quantize_dynamic`): weights are stored as int8
and activations are quantized on the fly per call, so no calibration data is needed. See `quantize_int8`
for which layers become integer ops.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.architectures import REGISTRY, TEXT, Architecture, SpecError
from ml.errors import UserError
from ml.runtimes import _ORT_DTYPES, OnnxRuntime, Runtime, TorchScriptRuntime

ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "inputs", "outputs"
EXPORT_TOLERANCE = 1e-4
"""Largest accepted `relative_difference` of exported outputs from eager PyTorch. float32 rounding moves
outputs by ~1e-7 of their scale (an mlp answering ~1.5e12 differed by 2.6e5 in ONNX, ~2e-7), so this leaves
room for different kernels while a wrong graph (off by a whole scale factor or bias) fails."""
CHECK_BATCHES = (1, 3)
QUANTIZED_WEIGHT_MIN_ELEMENTS = 256
"""Weights of at least this many elements feeding MatMul, Gemm, Conv or Gather must come out 8-bit."""
WARMUP_CALLS = 5
MAX_EXPORT_BYTES = 2**31 - 2**26
"""Largest model (parameters and buffers, in bytes) exported: an ONNX file is one protobuf, limited to 2 GiB."""

_export_lock = threading.Lock()  # one export at a time flips the process-wide transformer fast path


class OptimizeError(UserError):
    """The model cannot be exported, quantized or measured as asked; the message says why."""


# --- inputs ------------------------------------------------------------------------------------------------


def _architecture(spec: dict) -> Architecture:
    architecture = spec.get("architecture") if isinstance(spec, dict) else None
    if not isinstance(architecture, str) or architecture not in REGISTRY:
        raise OptimizeError(f"cannot export architecture {architecture!r}: Eco exports {', '.join(REGISTRY)} networks")
    return REGISTRY[architecture]


def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptimizeError(f"the spec's {what} must be a positive integer, got {value!r}")
    return value


def input_shape(spec: dict) -> tuple[int, ...]:
    """The shape of one input row for the spec's network (without the batch axis): (in_features,) for an
    mlp, (in_channels, H, W) for a cnn, (max_len,) for a textcnn or transformer."""
    try:
        return _architecture(spec).input_shape(spec)
    except SpecError as exc:
        raise OptimizeError(str(exc)) from None


def _input_dtype(spec: dict) -> type[np.generic]:
    return np.int64 if _architecture(spec).input_kind == TEXT else np.float32


def example_inputs(spec: dict, batch: int = 2) -> np.ndarray:
    """A batch of placeholder inputs of the right dtype and shape for the spec: float32 zeros for an mlp or
    cnn, int64 ones (the unknown-word token, so no row is all padding) for a textcnn or transformer."""
    shape = (_positive(batch, "batch"), *input_shape(spec))
    dtype = _input_dtype(spec)
    return np.ones(shape, dtype=dtype) if dtype == np.int64 else np.zeros(shape, dtype=dtype)


def _check_inputs(spec: dict, batch: int, seed: int = 0) -> np.ndarray:
    """Seeded random inputs for checking an export: standard-normal floats, or rows of 1 to max_len random
    token ids followed by padding (so the transformer's padding mask is exercised)."""
    rng = np.random.default_rng(seed)
    shape = (batch, *input_shape(spec))
    if _input_dtype(spec) == np.float32:
        return rng.standard_normal(shape).astype(np.float32)
    vocab = _positive(spec.get("vocab_size"), "'vocab_size'")
    tokens = rng.integers(1, max(vocab, 2), size=shape, dtype=np.int64)
    lengths = rng.integers(1, shape[1] + 1, size=batch)
    tokens[np.arange(shape[1])[None, :] >= lengths[:, None]] = 0
    return tokens


# --- export --------------------------------------------------------------------------------------------------


def _eager_outputs(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """What eager PyTorch serves for `inputs` (eval mode, inference mode, fast paths allowed)."""
    with torch.inference_mode():
        return model(torch.from_numpy(inputs)).float().numpy()


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """The model in eval mode (dropout off, BatchNorm on its running statistics) for one export and its
    check; its own mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def _tracing() -> Iterator[None]:
    """The transformer fast path off and tracer chatter silenced (shape-check TracerWarnings, and the
    deprecation notices of the TorchScript-based exporter and torch.jit, which Eco uses knowingly) while a
    model is traced; the fast-path setting is restored afterwards."""
    with _export_lock:
        fast_path = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
                warnings.filterwarnings("ignore", message=".*feature will be removed.*")
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated.*")
                yield
        finally:
            torch.backends.mha.set_fastpath_enabled(fast_path)


def _verify(runtime: Runtime, model: nn.Module, spec: dict, what: str) -> None:
    """The exported file's outputs match eager PyTorch for batches of 1 and 3, or OptimizeError."""
    for batch in CHECK_BATCHES:
        inputs = _check_inputs(spec, batch, seed=batch)
        reference = _eager_outputs(model, inputs)
        try:
            candidate = runtime.run(inputs)
        except Exception as exc:  # the backend's own error types vary; the message is what matters
            raise OptimizeError(f"the {what} export does not run on a batch of {batch}: {exc}") from exc
        if candidate.shape != reference.shape:
            raise OptimizeError(
                f"the {what} export gives outputs of shape {candidate.shape} for a batch of {batch}; "
                f"PyTorch gives {reference.shape}"
            )
        difference = relative_difference(reference, candidate, spec)
        if not difference <= EXPORT_TOLERANCE:
            raise OptimizeError(
                f"the {what} export differs from PyTorch by {max_abs_difference(reference, candidate):.3g} "
                f"on a batch of {batch}, {difference:.3g} of the outputs' scale (allowed {EXPORT_TOLERANCE:g})"
            )


def _prepare_export(model: nn.Module, spec: dict) -> torch.Tensor:
    """Check that `model` can be exported for `spec` and return the example batch to trace it with."""
    if not isinstance(model, nn.Module):
        raise OptimizeError(f"expected a torch.nn.Module to export, got {type(model).__name__}")
    _architecture(spec)
    tensors = [*model.parameters(), *model.buffers()]
    devices = sorted({str(t.device) for t in tensors if t.device.type != "cpu"})
    if devices:
        raise OptimizeError(f"the model is on {', '.join(devices)}; move it to the CPU (model.cpu()) to export it")
    size = sum(t.numel() * t.element_size() for t in tensors)
    if size > MAX_EXPORT_BYTES:
        raise OptimizeError(
            f"the model holds {size / 2**30:.1f} GiB of tensors; a single-file export holds at most "
            f"{MAX_EXPORT_BYTES / 2**30:.1f} GiB (the protobuf limit of ONNX)"
        )
    return torch.from_numpy(_check_inputs(spec, 2))


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def export_onnx(model: nn.Module, spec: dict, path: str | Path) -> None:
    """Write `model` (built from `spec`, on the CPU) as an ONNX graph at `path`: opset 17, the TorchScript-based
    exporter (`dynamo=False`), input "inputs" and output "outputs" with a dynamic batch axis, eval mode
    (BatchNorm folded into the convolutions). The graph is then run by ONNX Runtime on batches of 1 and 3
    and must match PyTorch. Raises OptimizeError (and leaves no file) when export or the check fails."""
    example = _prepare_export(model, spec)
    path = Path(path)
    try:
        with _evaluating(model):
            with _tracing():
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=False,
                    opset_version=ONNX_OPSET,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    do_constant_folding=True,
                )
            _verify(OnnxRuntime(path), model, spec, "ONNX")
    except OptimizeError:
        _unlink(path)
        raise
    except Exception as exc:  # exporter and ONNX Runtime errors come in many types
        _unlink(path)
        raise OptimizeError(f"cannot export the {spec['architecture']} to ONNX: {exc}") from exc


def export_torchscript(model: nn.Module, spec: dict, path: str | Path) -> None:
    """Write `model` (built from `spec`, on the CPU) as a traced TorchScript module at `path` (traced with a
    batch of 2 so that no batch size is baked in). It is then reloaded and run on batches of 1 and 3 and
    must match PyTorch. Raises OptimizeError (and leaves no file) when tracing or the check fails."""
    example = _prepare_export(model, spec)
    path = Path(path)
    try:
        with _evaluating(model):
            with _tracing(), torch.no_grad():
                traced = torch.jit.trace(model, (example,), check_trace=False)
                torch.jit.save(traced, str(path))
            _verify(TorchScriptRuntime(path), model, spec, "TorchScript")
    except OptimizeError:
        _unlink(path)
        raise
    except Exception as exc:
        _unlink(path)
        raise OptimizeError(f"cannot export the {spec['architecture']} to TorchScript: {exc}") from exc


# --- int8 quantization ---------------------------------------------------------------------------------------


def _fold_identity_weights(model) -> None:
    """Point consumers of `Identity(initializer)` at the initializer itself. The exporter writes a weight
    that equals another (an untrained TransformerEncoder's cloned layers) once and the copies as Identity
    nodes; the quantizer only quantizes MatMuls whose weight is an initializer, so it would skip them."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    graph_outputs = {output.name for output in model.graph.output}
    alias = {
        node.output[0]: node.input[0]
        for node in model.graph.node
        if node.op_type == "Identity" and node.input[0] in initializers and node.output[0] not in graph_outputs
    }
    if not alias:
        return
    kept = [node for node in model.graph.node if not (node.op_type == "Identity" and node.output[0] in alias)]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    del model.graph.node[:]
    model.graph.node.extend(kept)


def _gemm_to_matmul(model) -> None:
    """Rewrite Gemm(A, W, b) with a constant W as MatMul(A, W') + b. torch exports nn.Linear on 2-D inputs
    as Gemm, and ONNX Runtime's dynamic (integer-op) quantizer has no Gemm entry: recent releases (1.32
    here) make this same rewrite themselves, older ones leave Gemm in float. Doing it here makes every
    Linear an int8 MatMulInteger whichever version is installed."""
    from onnx import helper, numpy_helper

    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    rewritten: set[str] = set()
    nodes = []
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != "Gemm"
            or node.input[1] not in initializers
            or attributes.get("transA", 0)
            or attributes.get("alpha", 1.0) != 1.0
            or attributes.get("beta", 1.0) != 1.0
        ):
            nodes.append(node)
            continue
        transposed = bool(attributes.get("transB", 0))
        weight_name = f"{node.input[1]}__matmul_t" if transposed else node.input[1]
        if transposed and weight_name not in rewritten:  # one transposed copy however many Gemms share it
            weight = numpy_helper.to_array(initializers[node.input[1]]).T
            model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), weight_name))
            rewritten.add(weight_name)
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}__matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight_name], [product], name=f"{node.name}_matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    kept = [tensor for tensor in model.graph.initializer if tensor.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def float_weights(path: str | Path) -> list[str]:
    """Names of the float weights (at least QUANTIZED_WEIGHT_MIN_ELEMENTS elements) that feed a MatMul,
    Gemm, Conv or Gather node of the ONNX graph at `path`: what int8 quantization left in float."""
    import onnx

    model = onnx.load(str(path))
    heavy = {"MatMul", "Gemm", "Conv", "Gather"}
    fed = {name for node in model.graph.node if node.op_type in heavy for name in node.input}
    return sorted(
        tensor.name
        for tensor in model.graph.initializer
        if tensor.name in fed
        and tensor.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
        and math.prod(tensor.dims) >= QUANTIZED_WEIGHT_MIN_ELEMENTS
    )


def quantize_int8(onnx_fp32_path: str | Path, dst_path: str | Path) -> None:
    """Write a dynamically int8-quantized copy of the fp32 ONNX graph at `onnx_fp32_path` to `dst_path`.

    What becomes integer arithmetic (ONNX Runtime's CPU provider runs all of it):
      - nn.Linear (exported as Gemm or MatMul): int8 weights, MatMulInteger, inputs quantized per call;
      - nn.Conv1d / nn.Conv2d (BatchNorm already folded in by the export): int8 weights, ConvInteger;
      - nn.Embedding tables (Gather): stored as uint8 and dequantized after the lookup.
    What stays float: biases, LayerNorm, softmax, pooling, the attention score products (activation x
    activation MatMuls; dynamic quantization only quantizes a MatMul with a constant weight) and any
    weight under QUANTIZED_WEIGHT_MIN_ELEMENTS. Weights are quantized per output channel (symmetric int8, a scale
for each column of a MatMul's weight): on the fine-tuned MiniLM of benchmarks/finetune.py one scale per tensor
cost 0.023 of test accuracy and one per channel 0.002, for 0.3 ms more a short text (2.5 against 2.2 ms).

    ONNX Runtime's quantization pre-processing (`quant_pre_process`) is not run: its symbolic shape
    inference fails on the transformer graph and it changes nothing the dynamic quantizer needs for the
    others, so `quantize_dynamic` logs its "consider pre-processing" warning.

    The result is loaded by ONNX Runtime and run once, and every large weight must come out 8-bit;
    otherwise OptimizeError (and no file at `dst_path`).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, dst = Path(onnx_fp32_path), Path(dst_path)
    try:
        model = onnx.load(str(source))
    except Exception as exc:
        raise OptimizeError(f"{source.name} is not a readable ONNX graph: {exc}") from exc
    _fold_identity_weights(model)
    _gemm_to_matmul(model)
    try:
        quantize_dynamic(model, dst, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False)
        left = float_weights(dst)
        if left:
            raise OptimizeError(f"int8 quantization left these weights in float: {', '.join(left[:10])}")
        session = OnnxRuntime(dst).session
        feeds = {  # ones of each input's type, every dynamic axis 1 (a fine-tuned checkpoint takes two inputs)
            graph_input.name: np.ones(
                [d if isinstance(d, int) else 1 for d in graph_input.shape], dtype=_ORT_DTYPES[graph_input.type]
            )
            for graph_input in session.get_inputs()
        }
        session.run(None, feeds)
    except OptimizeError:
        _unlink(dst)
        raise
    except Exception as exc:
        _unlink(dst)
        raise OptimizeError(f"cannot quantize {source.name} to int8: {exc}") from exc


# --- measurements --------------------------------------------------------------------------------------------


def max_abs_difference(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The largest |reference - candidate| over all elements (0.0 for empty arrays; inf when either holds a
    non-finite value). Raises OptimizeError when the shapes differ."""
    reference, candidate = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise OptimizeError(f"cannot compare outputs of shapes {reference.shape} and {candidate.shape}")
    if not reference.size:
        return 0.0
    if not (np.isfinite(reference).all() and np.isfinite(candidate).all()):
        return math.inf
    return float(np.abs(reference - candidate).max())


def output_scale(spec: dict, reference: np.ndarray) -> float:
    """The size that differences of the spec's model outputs are measured against: for a regression the
    larger of the largest |reference| and the target's standard deviation when the spec records one
    (`preprocessing.target_std`: an output near zero still carries rounding of that size); for logits (any
    other task) the largest |reference| but at least 1, since logits near zero carry the others' rounding."""
    largest = float(np.abs(np.asarray(reference, dtype=np.float64)).max(initial=0.0))
    if spec.get("task") != "regression":
        return max(1.0, largest)
    std = (spec.get("preprocessing") or {}).get("target_std")
    if isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std) and std > 0:
        return max(largest, float(std))
    return largest


def relative_difference(reference: np.ndarray, candidate: np.ndarray, spec: dict) -> float:
    """`max_abs_difference(reference, candidate)` over `output_scale(spec, reference)`: a scale-free parity
    figure, the same for a model whatever units its target is in (0.0 when both are exactly equal, inf
    when either holds a non-finite value or the scale is 0 and they differ). Raises OptimizeError when the
    shapes differ."""
    difference = max_abs_difference(reference, candidate)
    if difference == 0.0:
        return 0.0
    scale = output_scale(spec, reference) if math.isfinite(difference) else 0.0
    return difference / scale if scale > 0 else math.inf


def latency_ms(runtime: Runtime, inputs: np.ndarray, *, batch: int, repeats: int = 50) -> dict:
    """Milliseconds per `runtime.run` call on a batch of `batch` rows of `inputs` (repeated when it has fewer
    rows): {"p50", "p99", "batch"} over `repeats` calls timed with time.perf_counter, after a few untimed
    warm-up calls."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise OptimizeError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise OptimizeError(f"repeats must be a positive integer, got {repeats!r}")
    inputs = np.asarray(inputs)
    if inputs.ndim < 1 or not len(inputs):
        raise OptimizeError("latency needs at least one input row")
    rows = np.ascontiguousarray(np.concatenate([inputs] * math.ceil(batch / len(inputs)))[:batch])
    for _ in range(WARMUP_CALLS):
        runtime.run(rows)
    timings = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        runtime.run(rows)
        timings[i] = (time.perf_counter() - start) * 1000.0
    return {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99)), "batch": batch}


def file_size(path: str | Path) -> int:
    """The size of the file at `path` in bytes."""
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise OptimizeError(f"cannot read the size of {path}: {exc.strerror}") from exc


__all__ = [
    "OptimizeError",
    "example_inputs",
    "export_onnx",
    "export_torchscript",
    "file_size",
    "float_weights",
    "input_shape",
    "latency_ms",
    "max_abs_difference",
    "output_scale",
    "quantize_int8",
    "relative_difference",
]
