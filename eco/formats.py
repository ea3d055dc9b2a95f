"""Model files by their content, shared by the client (before an upload) and the server (on upload): safetensors
or ONNX; pickles and TorchScript archives, which run code when loaded, are refused. Standard library only."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""The largest safetensors JSON header read (the format's own limit is the same 100 MB)."""
PICKLE_PROTOCOL_BYTE = 0x80
ZIP_MAGIC = b"PK\x03\x04"
CODE_REFUSAL = (
    "Eco never loads pickles or other files that run code when loaded. Export the model to ONNX "
    "(torch.onnx.export) or save its weights with safetensors (safetensors.torch.save_file) instead"
)


class RefusedFile(ValueError):
    """The file is one Eco never loads (a pickle, a TorchScript or other zip archive) or is empty."""


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= MAX_HEADER_BYTES and 8 + header_len <= size and head[8:9] == b"{"


def _zip_refusal(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        names = []
    if any("/code/" in f"/{n}" or n.endswith("constants.pkl") for n in names):
        return f"this is a TorchScript archive (it holds code/ or constants.pkl); {CODE_REFUSAL}"
    if any(n.endswith(".pkl") for n in names):
        return f"this is a pickled PyTorch file (torch.save: a zip holding data.pkl); {CODE_REFUSAL}"
    return "this is a zip archive, not a safetensors or ONNX file"


def sniff_format(path: str | Path) -> str:
    """The format of the model file at `path` by its content: "safetensors" or "onnx" (anything else that
    could be a protobuf; the server's ONNX check decides). Raises RefusedFile for TorchScript archives, pickles
    (.pt/.pth/.pkl/.joblib: protocol header 0x80), zip archives and empty files, naming what the file is."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise RefusedFile("the file is empty")
    if head[:4] == ZIP_MAGIC:
        raise RefusedFile(_zip_refusal(path))
    if head[0] == PICKLE_PROTOCOL_BYTE and 2 <= head[1] <= 5:
        raise RefusedFile(f"this is a pickle (.pt, .pth, .pkl or .joblib file); {CODE_REFUSAL}")
    if _looks_like_safetensors(head, size):
        return "safetensors"
    return "onnx"
