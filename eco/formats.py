"""Model files by their content, shared by the client (before an upload) and the server (on upload): safetensors
or ONNX; pickles and TorchScript archives, which run code when loaded, are refused. Standard library only."""

from __future__ import annotations

import re
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


# --- Hugging Face checkpoint folders --------------------------------------------------------------------

HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"
HF_WEIGHTS_INDEX = "model.safetensors.index.json"
HF_SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
HF_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "spm.model",
    "sentencepiece.bpe.model",
)
"""The tokenizer files a checkpoint may hold: JSON, text and SentencePiece protobufs, none of which runs code."""
HF_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".h5", ".msgpack", ".npy")
HF_CODE_SUFFIXES = (".py", ".pyc", ".so", ".dylib", ".dll")


def hf_file_role(name: str) -> str:
    """What the file `name` (a path inside a checkpoint folder, '/'-separated) is to Eco: "config",
    "weights", "index", "tokenizer", "skip" (a file that serves no purpose here: a README, a
    sentence-transformers pooling config, a .gitattributes) or "code" / "pickle" (refused: it runs code when
    loaded). Only the folder's top level is kept: a file in a sub-folder is "skip" unless it is code or a pickle."""
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    if lower.endswith(HF_CODE_SUFFIXES):
        return "code"
    if lower.endswith(HF_PICKLE_SUFFIXES):
        return "pickle"
    if "/" in name.strip("/"):
        return "skip"
    if base == HF_CONFIG:
        return "config"
    if base == HF_WEIGHTS or HF_SHARD.match(base):
        return "weights"
    if base == HF_WEIGHTS_INDEX:
        return "index"
    if base in HF_TOKENIZER_FILES:
        return "tokenizer"
    return "skip"


def hf_refusal(names) -> str | None:
    """Why a checkpoint made of the files `names` is refused before any upload, or None: a file that runs
    code (custom modelling code), weights only as a pickle (pytorch_model.bin), no config.json, no
    safetensors weights. Pickles beside safetensors weights are left out, not refused."""
    roles = {name: hf_file_role(name) for name in names}
    code = sorted(n for n, r in roles.items() if r == "code")
    if code:
        return (
            f"{code[0]} is code; Eco never runs code that comes with a model (custom modelling files, "
            "auto_map). Use a model type that transformers itself implements"
        )
    if "config" not in roles.values():
        return "no config.json: this is not a Hugging Face checkpoint folder"
    if "weights" not in roles.values():
        pickles = sorted(n for n, r in roles.items() if r == "pickle")
        if pickles:
            return (
                f"the weights are a pickle ({pickles[0]}), which runs code when loaded; Eco takes safetensors "
                "only. Convert them first: model.save_pretrained(folder, safe_serialization=True)"
            )
        return "no model.safetensors (or model-0000N-of-0000M.safetensors shards) in the folder"
    return None
