"""Model artifacts: safetensors weights plus a JSON architecture spec. Never pickle.

`inspect_safetensors` validates a file without loading its tensors (constant memory): the 8-byte header
length, the JSON header, every tensor's dtype, shape and byte range, and that the ranges tile the data.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

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
MAX_HEADER_BYTES = 100 * 1024 * 1024
_PICKLE_PROTOCOL_BYTE = 0x80
_ZIP_MAGIC = b"PK\x03\x04"


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
            if head[:4] == _ZIP_MAGIC or (head[0] == _PICKLE_PROTOCOL_BYTE and 2 <= head[1] <= 5):
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
