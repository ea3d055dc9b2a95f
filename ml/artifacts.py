"""Model artifacts: safetensors weights plus a JSON architecture spec, or a brought ONNX graph. Never pickle.

`inspect_safetensors` validates a file without loading its tensors (constant memory): the 8-byte header
length, the JSON header, every tensor's dtype, shape and byte range, and that the ranges tile the data.
`sniff_format` tells a file's format by its content (never its name) and refuses formats that run code when
loaded (TorchScript archives, pickles); `inspect_onnx` checks a brought ONNX graph against its serving spec.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from eco import formats
from ml.errors import UserError

_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
MAX_HEADER_BYTES = formats.MAX_HEADER_BYTES


class ArtifactError(UserError):
    """The artifact is not acceptable; the message says why."""


def inspect_safetensors(path: str | Path) -> dict:
    """Return {"tensors": {name: {"dtype", "shape"}}, "metadata": {...}, "num_parameters": N}."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ArtifactError("not a safetensors file: shorter than its 8-byte header length")
        (header_len,) = struct.unpack("<Q", head)
        if header_len == 0 or header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            if head[:4] == formats.ZIP_MAGIC or (head[0] == formats.PICKLE_PROTOCOL_BYTE and 2 <= head[1] <= 5):
                raise ArtifactError(
                    "this looks like a pickled PyTorch file (.pt/.pth/.pkl); Eco never loads pickles. "
                    "Save the weights with safetensors (safetensors.torch.save_file) instead"
                )
            raise ArtifactError("not a safetensors file: the header length does not fit the file")
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ArtifactError("not a safetensors file: the header is not JSON") from None
    if not isinstance(header, dict):
        raise ArtifactError("not a safetensors file: the header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ArtifactError("not a safetensors file: __metadata__ must map strings to strings")
    data_len = size - 8 - header_len
    tensors, ranges, params = {}, [], 0
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise ArtifactError(f"tensor '{name}': needs dtype, shape and data_offsets") from None
        if not isinstance(dtype, str) or dtype not in _DTYPE_BYTES:
            raise ArtifactError(f"tensor '{name}': unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ArtifactError(f"tensor '{name}': shape must be a list of non-negative integers")
        count = math.prod(shape)
        if not (type(begin) is int and type(end) is int and 0 <= begin <= end <= data_len):
            raise ArtifactError(f"tensor '{name}': data_offsets fall outside the file")
        if end - begin != count * _DTYPE_BYTES[dtype]:
            raise ArtifactError(f"tensor '{name}': {end - begin} bytes do not hold a {dtype} tensor of shape {shape}")
        tensors[name] = {"dtype": dtype, "shape": shape}
        ranges.append((begin, end))
        params += count
    if not tensors:
        raise ArtifactError("the safetensors file holds no tensors")
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            raise ArtifactError("not a safetensors file: tensor data overlaps or leaves gaps")
        position = end
    if position != data_len:
        raise ArtifactError("not a safetensors file: bytes after the last tensor")
    return {"tensors": tensors, "metadata": metadata, "num_parameters": params}


def validate_spec(spec) -> dict:
    """An architecture spec is a JSON object that describes one of the known networks, within bounds."""
    from ml.architectures import SpecError, tensor_shapes

    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ArtifactError(f"the spec is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ArtifactError("the spec must be a JSON object")
    try:
        tensor_shapes(spec)
    except SpecError as exc:
        raise ArtifactError(str(exc)) from None
    return spec


def check_weights_fit_spec(spec: dict, tensors: dict) -> None:
    """The weights (names and shapes from `inspect_safetensors`) are exactly what the spec's network holds."""
    from ml.architectures import tensor_shapes

    expected = tensor_shapes(spec)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(n for n in set(expected) & set(tensors) if tensors[n]["shape"] != expected[n])
    problems = []
    if missing:
        problems.append(f"missing tensors {', '.join(missing[:5])}")
    if extra:
        problems.append(f"unexpected tensors {', '.join(extra[:5])}")
    for name in wrong[:5]:
        problems.append(f"'{name}' has shape {tensors[name]['shape']}, the spec needs {expected[name]}")
    if problems:
        raise ArtifactError(f"the weights do not fit the {spec['architecture']} spec: " + "; ".join(problems))


def save_weights(model, path: str | Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={k: str(v) for k, v in (metadata or {}).items()})


def load_model(spec: dict, path: str | Path):
    """Rebuild the network from its spec and load safetensors weights into it (strict, no pickle)."""
    from safetensors.torch import load_file

    from ml.architectures import build_model

    model = build_model(spec)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


# --- formats by content, and brought ONNX graphs ---------------------------------------------------------------

UPLOAD_FORMATS = ("safetensors", "onnx")
"""Formats a user may upload; TorchScript and pickles run code when loaded and are refused."""
STANDARD_DOMAINS = ("", "ai.onnx")
"""ONNX operator domains a brought graph may use: the default one (standard operators) only."""
CHECK_BATCHES = (1, 3)
_ONNX_FLOAT = {1: "float", 11: "float"}  # FLOAT, DOUBLE: what ml.runtimes.OnnxRuntime casts inputs to
_ONNX_INT64 = 7


def sniff_format(path: str | Path) -> str:
    """The format of the model file at `path` by its content: "safetensors" or "onnx" (eco.formats.sniff_format,
    which the client shares). Raises ArtifactError for TorchScript archives, pickles, zip archives and empty
    files, naming what the file is."""
    try:
        return formats.sniff_format(path)
    except formats.RefusedFile as exc:
        raise ArtifactError(str(exc)) from None


def check_upload_format(path: str | Path, declared: str) -> None:
    """The file at `path` is what `declared` (one of UPLOAD_FORMATS) says, by content; ArtifactError
    otherwise, naming what it is (see `sniff_format`), on field "format" when `declared` is not accepted."""
    if declared not in UPLOAD_FORMATS:
        why = f"; {formats.CODE_REFUSAL}" if declared in ("torchscript", "pickle") else ""
        raise ArtifactError(
            f"{declared!r} files are not accepted; upload one of {', '.join(UPLOAD_FORMATS)}{why}", field="format"
        )
    found = sniff_format(path)
    if found != declared:
        raise ArtifactError(f"the file is a {found} file, not {declared}; set format to {found}")


def _graphs(graph):
    """`graph` and every subgraph in its nodes' attributes (the bodies of If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.g.ByteSize():
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _dims(value_info) -> list:
    """Dims of a graph input or output: ints, or a name / None for symbolic and unknown ones."""
    shape = value_info.type.tensor_type.shape
    if not value_info.type.tensor_type.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def _load_onnx(path: Path):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, RecursionError) as exc:
        raise ArtifactError(
            f"not an ONNX file: {str(exc).splitlines()[0] if str(exc) else 'it does not parse'}"
        ) from None
    if not model.graph.ByteSize() or not model.opset_import:
        raise ArtifactError("not an ONNX file: it has no graph or no opset")
    return model


def _check_operators(model) -> None:
    if model.functions:
        function = model.functions[0]
        raise ArtifactError(
            f"the graph defines its own function {function.domain}::{function.name}; Eco serves graphs of "
            "standard ONNX operators only"
        )
    for graph in _graphs(model.graph):
        for tensor in [*graph.initializer, *(s.values for s in graph.sparse_initializer)]:
            if tensor.data_location == 1:  # EXTERNAL: data in another file, which a server must never open
                raise ArtifactError(
                    f"tensor '{tensor.name}' keeps its data in an external file; save the model as one file "
                    "(onnx.save_model(model, path, save_as_external_data=False))"
                )
        for node in graph.node:
            if node.domain not in STANDARD_DOMAINS:
                raise ArtifactError(
                    f"operator {node.op_type} of domain '{node.domain}' (node '{node.name or '?'}') is not a standard "
                    "ONNX operator; Eco serves graphs of the default ONNX domain only"
                )


def _check_signature(model, spec: dict) -> tuple[object, object]:
    from ml.inference import input_signature, num_outputs

    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ArtifactError(f"the graph must take one input; it takes {len(inputs)} ({names})")
    graph_input = inputs[0]
    expected, elem = input_signature(spec)
    kind = spec["preprocessing"]["kind"]
    element = graph_input.type.tensor_type.elem_type
    if elem == "int64" and element != _ONNX_INT64:
        raise ArtifactError(f"input '{graph_input.name}' must take int64 token ids for a text model")
    if elem == "float" and element not in _ONNX_FLOAT:
        raise ArtifactError(f"input '{graph_input.name}' must take floats for a {kind} model")
    dims = _dims(graph_input)
    shown = "(" + ", ".join("batch" if d is None else str(d) for d in expected) + ")"
    if len(dims) != len(expected):
        raise ArtifactError(
            f"input '{graph_input.name}' has {len(dims)} axes {dims}; the spec's {kind} input is {shown}"
        )
    if isinstance(dims[0], int) and dims[0] != 0:
        raise ArtifactError(
            f"input '{graph_input.name}' has a fixed batch size of {dims[0]}; export it with a dynamic batch axis "
            "(torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))"
        )
    for axis, (have, want) in enumerate(zip(dims[1:], expected[1:], strict=True), start=1):
        if isinstance(have, int) and have and have != want:
            raise ArtifactError(
                f"input '{graph_input.name}' has {have} on axis {axis} where the spec's {kind} input {shown} has {want}"
            )
    output = model.graph.output[0]
    out_dims = _dims(output)
    width = num_outputs(spec)
    if len(out_dims) == 2 and isinstance(out_dims[1], int) and out_dims[1] and out_dims[1] != width:
        raise ArtifactError(_width_message(output.name, out_dims[1], width, spec))
    return graph_input, output


def _width_message(name: str, have: int, want: int, spec: dict) -> str:
    if spec["task"] == "regression":
        return f"output '{name}' gives {have} values per input; a regression model gives 1"
    return f"output '{name}' gives {have} values per input, but the spec names {want} classes"


def inspect_onnx(path: str | Path, spec: dict) -> dict:
    """Check a brought ONNX graph against its serving spec (from `ml.inference.check_serving_spec`) and
    return {"tensors": {input and output name: {"dtype", "shape"}}, "num_parameters": N, "opset": n}.

    The file must parse, pass `onnx.checker`, keep its tensors inside the file, use standard operators only
    (default domain, subgraphs included), take one input of the shape and type the spec's preprocessing makes
    (dynamic batch axis) and give one value per class (1 for regression) as its first output; it is then
    loaded by ONNX Runtime and run on batches of 1 and 3 made by `ml.inference.encode`. Raises ArtifactError
    naming the problem."""
    import onnx

    from ml import inference
    from ml.runtimes import OnnxRuntime

    path = Path(path)
    model = _load_onnx(path)
    _check_operators(model)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ArtifactError(f"the ONNX graph is not valid: {str(exc).strip().splitlines()[0]}") from None
    graph_input, output = _check_signature(model, spec)
    try:
        runtime = OnnxRuntime(path)
    except Exception as exc:  # ONNX Runtime's errors have many types; its message says what is wrong
        raise ArtifactError(f"ONNX Runtime cannot load the graph: {str(exc).strip().splitlines()[0]}") from None
    for batch in CHECK_BATCHES:
        array, _ = inference.encode(spec, inference.example_inputs(spec, batch))
        try:
            outputs = runtime.run(array)
        except Exception as exc:
            raise ArtifactError(
                f"ONNX Runtime cannot run the graph on a batch of {batch}: {str(exc).strip().splitlines()[0]}"
            ) from None
        width = inference.num_outputs(spec)
        if outputs.ndim != 2 or outputs.shape[0] != batch:
            raise ArtifactError(
                f"output '{output.name}' has shape {list(outputs.shape)} for a batch of {batch}; Eco needs "
                f"(batch, {width})"
            )
        if outputs.shape[1] != width:
            raise ArtifactError(_width_message(output.name, outputs.shape[1], width, spec))
    num_parameters = sum(math.prod(t.dims) for t in model.graph.initializer)
    tensors = {
        value.name: {
            "dtype": onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type),
            "shape": ["batch" if d is None else d for d in _dims(value)],
        }
        for value in (graph_input, output)
    }
    opset = next((o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS), 0)
    return {"tensors": tensors, "num_parameters": num_parameters, "opset": opset}
