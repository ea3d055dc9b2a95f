"""Hugging Face checkpoints: check an imported checkpoint folder without running its code or loading its
tensors, and build the networks that fine-tuning and serving use from it. Django-free; transformers is imported
inside the functions (about a second), so importing this module is cheap.

A checkpoint folder is what `save_pretrained` writes: `config.json`, the weights as `model.safetensors` (or
shards with `model.safetensors.index.json`) and the tokenizer's files. Which files are kept, left out or
refused is `eco.formats.hf_file_role`, shared with the client. Eco takes encoders that transformers itself
implements (`MODEL_TYPES`): a config that names its own code (`auto_map`) is refused, and nothing is ever
loaded with `trust_remote_code`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eco import formats
from ml.artifacts import ArtifactError, inspect_safetensors

MODEL_TYPES = (
    "bert",
    "roberta",
    "xlm-roberta",
    "camembert",
    "distilbert",
    "electra",
    "albert",
    "mpnet",
    "deberta",
    "deberta-v2",
)
"""The model types an imported checkpoint may have: BERT-family encoders with a sequence-classification head
in transformers."""
LIMITS = {
    "num_hidden_layers": 128,
    "n_layers": 128,
    "hidden_size": 16384,
    "dim": 16384,
    "intermediate_size": 65536,
    "hidden_dim": 65536,
    "vocab_size": 1_000_000,
    "max_position_embeddings": 65536,
}
"""Bounds on a config's sizes, checked before anything is built from it (even on the meta device, a config
asking for a million layers would take minutes to build)."""
_IGNORED_EXTRA = ("position_ids", "token_type_ids")
"""Buffers older checkpoints saved that current transformers rebuilds instead of loading."""
_OPTIONAL_MISSING = ("pooler.",)
"""Backbone parts a checkpoint saved from a masked-LM model lacks; transformers initialises them."""


class CheckpointError(ArtifactError):
    """The checkpoint folder is not acceptable; the message names the file and the problem."""


def _json_file(folder: Path, name: str) -> dict:
    try:
        value = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name} is not valid JSON: {exc}", field="files") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{name} must hold a JSON object", field="files")
    return value


def check_config(config: dict) -> None:
    """The config (config.json's object) names an allowed model type, asks for no code and stays within
    LIMITS; CheckpointError (field `files`) otherwise."""
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise CheckpointError(
            f"config.json: model_type {model_type!r} is not one Eco fine-tunes; use one of {', '.join(MODEL_TYPES)}",
            field="files",
        )
    if "auto_map" in config:
        raise CheckpointError(
            "config.json has auto_map: the model would run code that comes with it, which Eco never does",
            field="files",
        )
    for key, limit in LIMITS.items():
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise CheckpointError(f"config.json: {key} must be an integer from 1 to {limit}", field="files")


def _weight_files(folder: Path, names: list[str]) -> list[str]:
    """The safetensors files that hold the weights: model.safetensors, or the shards the index lists."""
    if formats.HF_WEIGHTS in names:
        return [formats.HF_WEIGHTS]
    if formats.HF_WEIGHTS_INDEX not in names:
        raise CheckpointError(f"the weights are in shards but {formats.HF_WEIGHTS_INDEX} is missing", field="files")
    index = _json_file(folder, formats.HF_WEIGHTS_INDEX)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{formats.HF_WEIGHTS_INDEX} needs a weight_map", field="files")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if not isinstance(shard, str) or shard not in names:
            raise CheckpointError(
                f"{formats.HF_WEIGHTS_INDEX} names shard {shard!r}, which is not given", field="files"
            )
    return shards


def _tensors(folder: Path, files: list[str]) -> tuple[dict, int]:
    tensors, parameters = {}, 0
    for name in files:
        try:
            facts = inspect_safetensors(folder / name)
        except ArtifactError as exc:
            raise CheckpointError(f"{name}: {exc.message}", field="files") from None
        for tensor, entry in facts["tensors"].items():
            if tensor in tensors:
                raise CheckpointError(f"{name}: tensor '{tensor}' is also in another shard", field="files")
            tensors[tensor] = entry
        parameters += facts["num_parameters"]
    return tensors, parameters


def _expected_tensors(config: dict) -> tuple[dict[str, list[int]], str, str]:
    """{name: shape} of the backbone that `config` describes, built on the meta device (no memory), with the
    backbone's prefix in task models (`bert`) and its class name (`BertModel`)."""
    import torch
    from transformers import AutoConfig, AutoModel

    settings = {k: v for k, v in config.items() if k != "model_type"}
    try:
        built = AutoConfig.for_model(config["model_type"], **settings)
        with torch.device("meta"):
            network = AutoModel.from_config(built)
    except Exception as exc:  # transformers raises many kinds for a config it cannot build
        raise CheckpointError(f"config.json does not describe a buildable model: {exc}", field="files") from None
    shapes = {name: list(t.shape) for name, t in network.state_dict().items()}
    return shapes, network.base_model_prefix, type(network).__name__


def check_tensors_fit(config: dict, tensors: dict[str, dict]) -> dict:
    """The file's tensors are the backbone `config` describes: every tensor present (a pooler may be missing)
    with the config's shape. Tensors under a task model's prefix (`bert.`) are the backbone's; the others are
    a task head, which fine-tuning replaces. Returns {"backbone": class name, "prefix": str, "head": [names],
    "missing": [names]}; CheckpointError naming the first few mismatched tensors otherwise."""
    expected, prefix, backbone = _expected_tensors(config)
    prefixed = any(name.startswith(prefix + ".") for name in tensors)
    found, head = {}, []
    for name, entry in tensors.items():
        if prefixed and not name.startswith(prefix + "."):
            head.append(name)
            continue
        found[name[len(prefix) + 1 :] if prefixed else name] = entry["shape"]
    wrong = [
        f"'{name}' is {found[name]}, the config says {shape}"
        for name, shape in expected.items()
        if name in found and found[name] != shape
    ]
    if wrong:
        raise CheckpointError(
            f"tensors do not match config.json: {'; '.join(wrong[:3])}"
            + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""),
            field="files",
        )
    missing = [n for n in expected if n not in found]
    if bad := [n for n in missing if not n.startswith(_OPTIONAL_MISSING)]:
        raise CheckpointError(
            f"the weights lack {len(bad)} tensor(s) of a {backbone}, such as {', '.join(bad[:3])}", field="files"
        )
    extra = [n for n in found if n not in expected and not n.endswith(_IGNORED_EXTRA)]
    if extra:
        raise CheckpointError(
            f"the weights hold tensor(s) a {backbone} of this config does not have, such as {', '.join(extra[:3])}",
            field="files",
        )
    return {"backbone": backbone, "prefix": prefix if prefixed else "", "head": sorted(head), "missing": missing}


def _tokenizer(folder: Path, names: list[str]) -> dict:
    """Load the tokenizer to check it (tokenizer files are data: JSON, text, SentencePiece protobufs)."""
    if "tokenizer_config.json" in names and "auto_map" in _json_file(folder, "tokenizer_config.json"):
        raise CheckpointError(
            "tokenizer_config.json has auto_map: the tokenizer would run code that comes with it", field="files"
        )
    if not any(
        n in names
        for n in formats.HF_TOKENIZER_FILES
        if n.endswith((".model", ".txt")) or n in ("tokenizer.json", "vocab.json")
    ):
        raise CheckpointError(
            "no tokenizer: give tokenizer.json (or the vocabulary files of the model's tokenizer)", field="files"
        )
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # a broken vocabulary file raises anything from OSError to a Rust panic
        raise CheckpointError(f"the tokenizer files do not load: {exc}", field="files") from None
    return {"tokenizer": type(tokenizer).__name__, "vocab_size": len(tokenizer), "max_length": _max_length(tokenizer)}


def _max_length(tokenizer) -> int | None:
    value = getattr(tokenizer, "model_max_length", None)
    return int(value) if isinstance(value, int) and 0 < value < 1_000_000 else None


def _architecture(config: dict) -> str | None:
    """The config's first `architectures` entry (the class save_pretrained wrote), or None."""
    architectures = config.get("architectures")
    return architectures[0] if isinstance(architectures, list) and architectures else None


def inspect_checkpoint(folder: str | Path) -> dict:
    """Check the checkpoint in `folder` (files at its top level, named as save_pretrained names them) without
    loading a tensor or running any of its code. Returns

        {"spec": {"format": "hf", "model_type", "architecture", "backbone", "config", "tokenizer",
                  "vocab_size", "max_length", "weights": [files], "prefix", "head"},
         "tensors": {name: {"dtype", "shape"}}, "num_parameters": int, "files": [kept], "skipped": [left out]}

    Raises CheckpointError (field `files`, 400) naming the problem: code or pickled weights, no config or
    safetensors weights, a model type outside MODEL_TYPES, `auto_map`, oversized config values, tensors that
    do not fit the config, a tokenizer that does not load."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    if refusal := formats.hf_refusal(names):
        raise CheckpointError(refusal, field="files")
    roles = {name: formats.hf_file_role(name) for name in names}
    config = _json_file(folder, formats.HF_CONFIG)
    check_config(config)
    weights = _weight_files(folder, names)
    tensors, parameters = _tensors(folder, weights)
    fit = check_tensors_fit(config, tensors)
    tokenizer = _tokenizer(folder, names)
    kept = [n for n in names if roles[n] in ("config", "tokenizer", "index") or n in weights]
    spec = {
        "format": "hf",
        "model_type": config["model_type"],
        "architecture": _architecture(config) or fit["backbone"],
        "backbone": fit["backbone"],
        "config": config,
        **tokenizer,
        "weights": weights,
        "prefix": fit["prefix"],
        "head": fit["head"],
    }
    if tokenizer["max_length"] is None or tokenizer["max_length"] > config.get("max_position_embeddings", 512):
        spec["max_length"] = config.get("max_position_embeddings", 512)
    return {
        "spec": spec,
        "tensors": tensors,
        "num_parameters": parameters,
        "files": kept,
        "skipped": [n for n in names if n not in kept],
    }


def inspect_adapter(folder: str | Path, *, lora: dict, num_parameters: int) -> dict:
    """Check a LoRA adapter a fine-tune saved (`ml.finetune.ADAPTER_WEIGHTS` and ADAPTER_CONFIG beside the
    fine-tuned config.json and the tokenizer) and describe it as `inspect_checkpoint` does; the spec's
    `adapter` holds the LoRA settings (`lora`, as the job checked them) that loading it on its base uses and
    the adapter's own parameter count; `num_parameters` is the merged network's (the caller counted it).
    Raises CheckpointError."""
    from ml.finetune import ADAPTER_CONFIG, ADAPTER_WEIGHTS

    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    for needed in (formats.HF_CONFIG, ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if needed not in names:
            raise CheckpointError(f"the adapter has no {needed}", field="files")
    config = _json_file(folder, formats.HF_CONFIG)
    check_config(config)
    saved = _json_file(folder, ADAPTER_CONFIG)
    if saved.get("peft_type") != "LORA":
        raise CheckpointError(f"{ADAPTER_CONFIG}: peft_type {saved.get('peft_type')!r} is not LORA", field="files")
    tensors, parameters = _tensors(folder, [ADAPTER_WEIGHTS])
    tokenizer = _tokenizer(folder, names)
    roles = {name: formats.hf_file_role(name) for name in names}
    kept = [n for n in names if roles[n] in ("config", "tokenizer") or n in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)]
    targets = saved.get("target_modules")
    spec = {
        "format": "hf",
        "model_type": config["model_type"],
        "architecture": _architecture(config),
        "config": config,
        **tokenizer,
        "weights": [ADAPTER_WEIGHTS],
        "adapter": {
            "peft_type": "LORA",
            "r": lora["r"],
            "alpha": lora["alpha"],
            "dropout": lora["dropout"],
            # what peft resolved (its default for the model type when none was given), so loading adapts the same
            "target_modules": sorted(targets) if isinstance(targets, list) else lora["target_modules"],
            "parameters": parameters,
        },
    }
    return {
        "spec": spec,
        "tensors": tensors,
        "num_parameters": num_parameters,
        "files": kept,
        "skipped": [n for n in names if n not in kept],
    }


def unpack_archive(archive: str | Path, folder: str | Path, *, max_bytes: int) -> list[str]:
    """Write the checkpoint files of a .zip or .tar (.tar.gz, .tgz) archive into `folder`, streamed in constant
    memory: the top-level files of the archive, or of its one top folder. Files that serve no purpose
    (`eco.formats.hf_file_role` "skip") are not written; code and pickles are refused before anything is
    written, as are links and files of over `max_bytes` in all (a zip bomb). Returns the names written.
    Raises CheckpointError (field `archive`)."""
    import tarfile
    import zipfile

    archive, folder = Path(archive), Path(folder)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as opened:
            members = [(info.filename, info.file_size, info) for info in opened.infolist() if not info.is_dir()]
            return _unpack(members, lambda info: opened.open(info), folder, max_bytes)
    try:
        opened = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError):
        raise CheckpointError("not a .zip or .tar (.tar.gz) archive", field="archive") from None
    with opened:
        members = []
        for info in opened:
            if info.isdir():
                continue
            if not info.isfile():
                raise CheckpointError(f"{info.name} is a link or device; the archive must hold files", field="archive")
            members.append((info.name, info.size, info))
        return _unpack(members, opened.extractfile, folder, max_bytes)


def _unpack(members: list[tuple[str, int, object]], open_member, folder: Path, max_bytes: int) -> list[str]:
    import shutil

    names = [name.lstrip("./") for name, _, _ in members]
    tops = {n.split("/", 1)[0] for n in names}
    # one top folder (`minilm/config.json`): its files are the checkpoint's
    strip = next(iter(tops)) + "/" if len(tops) == 1 and all("/" in n for n in names) else ""
    relative = [n[len(strip) :] for n in names]
    if refusal := formats.hf_refusal(relative):
        raise CheckpointError(refusal, field="archive")
    if sum(size for _, size, _ in members) > max_bytes:
        raise CheckpointError(f"the archive unpacks to more than {max_bytes} bytes", field="archive")
    written = []
    for name, (_, _size, member) in zip(relative, members, strict=True):
        if formats.hf_file_role(name) in ("skip", "pickle"):
            continue
        if name in written:
            raise CheckpointError(f"the archive holds {name} twice", field="archive")
        with open_member(member) as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        written.append(name)
    return written


# --- running a fine-tuned checkpoint ----------------------------------------------------------------------

TOKENIZER = "hf"
"""`preprocessing.tokenizer` of a fine-tuned checkpoint's spec: its inputs are raw texts, tokenized by the
checkpoint's own tokenizer inside the runtime (`HFRuntime`, `HFOnnxRuntime`)."""
ONNX_INPUTS = ("input_ids", "attention_mask")


def _texts(inputs) -> list[str]:
    return [str(t) for t in (inputs.tolist() if hasattr(inputs, "tolist") else inputs)]


class _Tokenized:
    """The checkpoint's tokenizer, padding a batch to its longest text and truncating at `max_length`."""

    def __init__(self, folder: str | Path, max_length: int):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        self.max_length = max_length

    def __call__(self, inputs, tensors: str) -> dict:
        encoded = self.tokenizer(
            _texts(inputs), padding=True, truncation=True, max_length=self.max_length, return_tensors=tensors
        )
        return {name: encoded[name] for name in ONNX_INPUTS}


class HFRuntime:
    """A fine-tuned checkpoint run by transformers on the CPU: raw texts in (an object array or list of N
    strings), float32 logits (N, num_labels) out. Thread-safe: inference mode, no state between calls."""

    name = "torch"

    def __init__(self, folder: str | Path, spec: dict):
        import torch

        from ml.finetune import load_classifier

        self.model, _ = load_classifier(folder)
        self.model.eval()
        self.tokenize = _Tokenized(folder, int(spec.get("max_length") or 512))
        self._torch = torch

    def run(self, inputs) -> np.ndarray:
        with self._torch.inference_mode():
            return self.model(**self.tokenize(inputs, "pt")).logits.float().numpy()


class HFOnnxRuntime:
    """A fine-tuned checkpoint exported to ONNX (`export_onnx`), run by ONNX Runtime with the checkpoint's
    tokenizer (whose files lie in `folder` beside the graph): raw texts in, float32 logits out."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, folder: str | Path, spec: dict, *, threads: int = 1):
        from ml.runtimes import OnnxRuntime

        self.session = OnnxRuntime(path, threads=threads).session
        self.tokenize = _Tokenized(folder, int(spec.get("max_length") or 512))

    def run(self, inputs) -> np.ndarray:
        feeds = {k: v.astype(np.int64, copy=False) for k, v in self.tokenize(inputs, "np").items()}
        return self.session.run(["logits"], feeds)[0].astype(np.float32, copy=False)


EXPORT_TOLERANCE = 1e-4
"""The largest difference between the exported graph's logits and PyTorch's, over the logits' scale."""
CHECK_TEXTS = ("a", "a somewhat longer text to check that the sequence axis is dynamic in the exported graph")


def export_onnx(folder: str | Path, spec: dict, path: str | Path, *, texts=CHECK_TEXTS) -> None:
    """Write the fine-tuned checkpoint in `folder` as an ONNX graph at `path` (opset 17, the TorchScript-based
    exporter): inputs `input_ids` and `attention_mask` (int64, dynamic batch and sequence axes), output
    `logits`. The graph is then run by ONNX Runtime on `texts` one at a time and all together (so batch and
    sequence lengths vary) and must match PyTorch within EXPORT_TOLERANCE of the logits' scale. Raises
    ml.optimize.OptimizeError, and leaves no file, when export or the check fails."""
    import torch

    from ml.optimize import ONNX_OPSET, OptimizeError, _unlink

    path = Path(path)
    reference = HFRuntime(folder, spec)
    example = reference.tokenize(list(texts), "pt")
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                reference.model,
                (),
                str(path),
                kwargs=dict(example),
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=list(ONNX_INPUTS),
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "batch"}},
                do_constant_folding=True,
            )
        exported = HFOnnxRuntime(path, folder, spec)
        for batch in [[t] for t in texts] + [list(texts)]:
            expected, got = reference.run(batch), exported.run(batch)
            scale = max(float(np.abs(expected).max()), 1e-6)
            if got.shape != expected.shape or float(np.abs(got - expected).max()) / scale > EXPORT_TOLERANCE:
                raise OptimizeError(
                    f"the ONNX export differs from PyTorch on a batch of {len(batch)}: "
                    f"{float(np.abs(got - expected).max()):.3g} ({float(np.abs(got - expected).max()) / scale:.3g} "
                    f"of the logits' scale, allowed {EXPORT_TOLERANCE:g})"
                )
    except OptimizeError:
        _unlink(path)
        raise
    except Exception as exc:  # exporter and ONNX Runtime errors come in many types
        _unlink(path)
        raise OptimizeError(f"cannot export the {spec.get('architecture')} to ONNX: {exc}") from exc
