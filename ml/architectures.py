"""Networks built from a JSON architecture spec. The spec is all that is needed to rebuild a model, so a
version is its spec plus safetensors weights: nothing is ever unpickled.

Specs (every field but `architecture` has a default):
  {"architecture": "mlp", "in_features": 64, "num_outputs": 10, "hidden": [128, 64], "dropout": 0.1}
  {"architecture": "cnn", "in_channels": 1, "image_size": [8, 8], "num_outputs": 10, "channels": [32, 64]}
  {"architecture": "textcnn", "vocab_size": 5000, "num_outputs": 2, "embed_dim": 64, "kernel_sizes": [3, 4, 5],
   "num_filters": 64, "max_len": 128}
  {"architecture": "transformer", "vocab_size": 5000, "num_outputs": 2, "embed_dim": 64, "num_heads": 4,
   "num_layers": 2, "max_len": 128}
`num_outputs` is the number of classes, or 1 for regression.

`REGISTRY` (at the bottom) holds one `Architecture` entry per network: its module, builder, input kind,
tasks, option defaults, data fields, smallest data, input shape and training recipe. Recipes, the train
spec check, data preparation, training and export read it; a new architecture is its nn.Module, a builder
function and one entry (plus, for a new input kind, how data is prepared for it in ml/data.py). Every
network ends in an nn.Linear that it names `output_layer`: training folds a regression target's scale into
it (see `rescale_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ml.errors import UserError

TABULAR, IMAGE, TEXT = "tabular", "image", "text"
CLASSIFICATION = "classification"
REGRESSION = "regression"
TEXT_CLASSIFICATION = "text-classification"
IMAGE_CLASSIFICATION = "image-classification"
TASKS = (CLASSIFICATION, REGRESSION, TEXT_CLASSIFICATION, IMAGE_CLASSIFICATION)


class SpecError(UserError):
    """The spec cannot build a network; the message names the field."""


# Upper bounds keep an untrusted spec from asking for an absurd network (and the memory to build it).
MAXIMUM = {
    "in_features": 1_000_000,
    "num_outputs": 100_000,
    "hidden": 65_536,
    "in_channels": 64,
    "channels": 4096,
    "vocab_size": 2_000_000,
    "embed_dim": 8192,
    "kernel_sizes": 63,
    "num_filters": 4096,
    "num_heads": 128,
    "num_layers": 48,
    "max_len": 16_384,
}
MAX_LAYERS_IN_A_LIST = 32
MAX_PARAMETERS = 500_000_000


def _positive_int(spec: dict, key: str, default=None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAXIMUM[key]:
        raise SpecError(f"'{key}' must be an integer from 1 to {MAXIMUM[key]}, got {value!r}")
    return value


def _int_list(spec: dict, key: str, default: list[int]) -> list[int]:
    value = spec.get(key, default)
    if (
        not isinstance(value, list)
        or len(value) > MAX_LAYERS_IN_A_LIST
        or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAXIMUM[key] for v in value)
    ):
        raise SpecError(
            f"'{key}' must be a list of at most {MAX_LAYERS_IN_A_LIST} integers from 1 to {MAXIMUM[key]}, got {value!r}"
        )
    return value


def _dropout(spec: dict, default: float = 0.1) -> float:
    value = spec.get("dropout", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(f"'dropout' must be a number in [0, 1), got {value!r}")
    return float(value)


class MLP(nn.Module):
    def __init__(self, in_features: int, num_outputs: int, hidden: list[int], dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_outputs))
        self.net = nn.Sequential(*layers)

    @property
    def output_layer(self) -> nn.Linear:
        return self.net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNN(nn.Module):
    """Small convolutional network for images (N, C, H, W); 8x8 digits upwards."""

    def __init__(self, in_channels: int, num_outputs: int, channels: list[int], dropout: float):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for size in channels:
            blocks += [nn.Conv2d(width, size, 3, padding=1), nn.BatchNorm2d(size), nn.ReLU()]
            width = size
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * 4, num_outputs))

    @property
    def output_layer(self) -> nn.Linear:
        return self.head[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (N, H, W): one channel
            x = x.unsqueeze(1)
        return self.head(self.pool(self.features(x)))


class TextCNN(nn.Module):
    """Kim (2014): embeddings, parallel 1-D convolutions, max over time. Token 0 is padding."""

    def __init__(self, vocab_size, num_outputs, embed_dim, kernel_sizes, num_filters, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k, padding=k // 2) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_filters * len(kernel_sizes), num_outputs)

    @property
    def output_layer(self) -> nn.Linear:
        return self.head

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
        return self.head(self.dropout(torch.cat(pooled, dim=1)))


class TransformerClassifier(nn.Module):
    """A small pre-norm transformer encoder with learnt positions and masked mean pooling."""

    def __init__(self, vocab_size, num_outputs, embed_dim, num_heads, num_layers, max_len, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.position = nn.Embedding(max_len, embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim, num_heads, dim_feedforward=embed_dim * 4, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_outputs)

    @property
    def output_layer(self) -> nn.Linear:
        return self.head

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        padding = tokens == 0
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embedding(tokens) + self.position(positions)
        x = self.encoder(x, src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(self.norm(pooled))


def rescale_outputs(model: nn.Module, scale: float, shift: float) -> None:
    """Make `model` answer `outputs * scale + shift` for what it answered before, by rewriting its output
    layer (weight * scale; bias * scale + shift). Every network here ends in that nn.Linear
    (its `output_layer`) with nothing after it, so the saved weights, every runtime and every export then
    answer in the new units with no extra op. Used to restore a regression target's units after training
    on standardised targets.

    The layer gets new tensors, worked out in float64 and rounded once: a checkpoint taken just before may
    share storage with the old ones and must keep the unscaled values."""
    layer = model.output_layer
    weight, bias = layer.weight.detach(), layer.bias.detach()
    layer.weight = nn.Parameter((weight.double() * scale).to(weight.dtype), requires_grad=layer.weight.requires_grad)
    layer.bias = nn.Parameter((bias.double() * scale + shift).to(bias.dtype), requires_grad=layer.bias.requires_grad)


def tensor_shapes(spec: dict) -> dict[str, list[int]]:
    """Names and shapes of the tensors the spec's network holds, worked out without allocating them
    (the network is built on the meta device). Raises SpecError for a bad or oversized spec."""
    with torch.device("meta"):
        model = _build(spec)
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    parameters = sum(p.numel() for p in model.parameters())
    if parameters > MAX_PARAMETERS:
        raise SpecError(f"the spec asks for {parameters:,} parameters; the limit is {MAX_PARAMETERS:,}")
    return shapes


def build_model(spec: dict) -> nn.Module:
    """Build the network a spec describes (raises SpecError naming a bad or oversized field)."""
    tensor_shapes(spec)
    return _build(spec)


def _build(spec: dict) -> nn.Module:
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    architecture = spec.get("architecture")
    if architecture not in REGISTRY:
        raise SpecError(f"'architecture' must be one of {', '.join(REGISTRY)}; got {architecture!r}")
    outputs = _positive_int(spec, "num_outputs")
    dropout = _dropout(spec)
    return REGISTRY[architecture].build(spec, outputs, dropout)


# --- what each architecture builds from a spec ----------------------------------------------------------


def _build_mlp(spec: dict, outputs: int, dropout: float) -> nn.Module:
    return MLP(_positive_int(spec, "in_features"), outputs, _int_list(spec, "hidden", [128, 64]), dropout)


def _build_cnn(spec: dict, outputs: int, dropout: float) -> nn.Module:
    return CNN(_positive_int(spec, "in_channels", 1), outputs, _int_list(spec, "channels", [32, 64]), dropout)


def _build_textcnn(spec: dict, outputs: int, dropout: float) -> nn.Module:
    return TextCNN(
        _positive_int(spec, "vocab_size"),
        outputs,
        _positive_int(spec, "embed_dim", 64),
        _int_list(spec, "kernel_sizes", [3, 4, 5]),
        _positive_int(spec, "num_filters", 64),
        dropout,
    )


def _build_transformer(spec: dict, outputs: int, dropout: float) -> nn.Module:
    vocab = _positive_int(spec, "vocab_size")
    embed = _positive_int(spec, "embed_dim", 64)
    heads = _positive_int(spec, "num_heads", 4)
    if embed % heads:
        raise SpecError(f"'embed_dim' ({embed}) must be divisible by 'num_heads' ({heads})")
    return TransformerClassifier(
        vocab,
        outputs,
        embed,
        heads,
        _positive_int(spec, "num_layers", 2),
        _positive_int(spec, "max_len", TRANSFORMER_MAX_LEN),
        dropout,
    )


# --- what each input kind takes from the data, and the shape of one input -------------------------------


def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"the spec's {what} must be a positive integer, got {value!r}")
    return value


def _tabular_fields(inputs: np.ndarray, preprocessing: dict) -> dict:
    shape = inputs.shape
    return {"in_features": int(shape[1]) if len(shape) == 2 else int(np.prod(shape[1:]))}


def _image_fields(inputs: np.ndarray, preprocessing: dict) -> dict:
    shape = inputs.shape
    if len(shape) != 4:
        raise SpecError(f"the cnn needs images shaped (N, C, H, W); the data is {tuple(shape)}")
    return {"in_channels": int(shape[1]), "image_size": [int(shape[2]), int(shape[3])]}


def _text_fields(inputs: np.ndarray, preprocessing: dict) -> dict:
    return {
        "vocab_size": len(preprocessing.get("vocab") or []) + 2,  # + padding and unknown
        "max_len": int(preprocessing.get("max_len", inputs.shape[1])),
    }


def _tabular_shape(spec: dict, default_len: int | None) -> tuple[int, ...]:
    return (_positive(spec.get("in_features"), "'in_features'"),)


def _image_shape(spec: dict, default_len: int | None) -> tuple[int, ...]:
    size = (spec.get("preprocessing") or {}).get("image_shape") or spec.get("image_size")
    if not isinstance(size, list) or len(size) != 2:
        raise SpecError("a cnn spec needs 'image_size' (or preprocessing 'image_shape') as [height, width]")
    channels = _positive(spec.get("in_channels", 1), "'in_channels'")
    return (channels, _positive(size[0], "image height"), _positive(size[1], "image width"))


def _sequence_shape(spec: dict, default_len: int | None) -> tuple[int, ...]:
    preprocessing = spec.get("preprocessing") or {}
    return (_positive(spec.get("max_len", preprocessing.get("max_len", default_len)), "'max_len'"),)


_DATA_FIELDS = {TABULAR: _tabular_fields, IMAGE: _image_fields, TEXT: _text_fields}
_INPUT_SHAPE = {TABULAR: _tabular_shape, IMAGE: _image_shape, TEXT: _sequence_shape}


# --- the registry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """Everything Eco knows about one architecture; recipes, the train spec check, data preparation, training
    and export read it from REGISTRY. A new architecture is its nn.Module, a builder and one entry.

    - `network` / `build(spec, num_outputs, dropout)`: the module class and how a spec makes one (SpecError
      naming a bad field);
    - `input_kind`: TABULAR (float rows), IMAGE (float N, C, H, W) or TEXT (int64 token ids);
    - `tasks` it can serve, and `serves` saying so in words for errors;
    - `defaults`: the options a user may set, with the recipe's values; `small_data_defaults` replace some
      below recipes.SMALL_TABLE_ROWS train rows;
    - `data_fields`: the spec fields set from the data (never by a user); `smallest_data`: their values for the
      smallest data it accepts, to check a user's options before any data is read;
    - `training`: the recipe's batch_size and lr, and the step budget epochs follow from (min_steps,
      max_epochs); `small_batch_size` below recipes.SMALL_BATCH_ROWS train rows;
    - `max_len`: the sequence length a spec without one gets; `fixed_length`: the network holds one position
      per token, so sequences longer than the spec's max_len cannot run.
    """

    name: str
    network: type[nn.Module]
    build: Callable[[dict, int, float], nn.Module]
    input_kind: str
    tasks: tuple[str, ...]
    serves: str
    defaults: dict
    data_fields: tuple[str, ...]
    smallest_data: dict
    training: dict
    small_data_defaults: dict = field(default_factory=dict)
    max_len: int | None = None
    fixed_length: bool = False

    def fields_from_data(self, inputs: np.ndarray, preprocessing: dict) -> dict:
        """The spec fields that follow from prepared inputs (input width, image shape or vocabulary), without
        num_outputs. Raises SpecError when the inputs do not suit the architecture."""
        return _DATA_FIELDS[self.input_kind](inputs, preprocessing)

    def input_shape(self, spec: dict) -> tuple[int, ...]:
        """The shape of one input row for a full spec, without the batch axis: (in_features,), (in_channels,
        H, W) or (max_len,). Raises SpecError naming a missing or bad field."""
        return _INPUT_SHAPE[self.input_kind](spec, self.max_len)


TRANSFORMER_MAX_LEN = 128
REGISTRY: dict[str, Architecture] = {
    entry.name: entry
    for entry in (
        Architecture(
            name="mlp",
            network=MLP,
            build=_build_mlp,
            input_kind=TABULAR,
            tasks=(CLASSIFICATION, REGRESSION),
            serves="tabular classification and regression",
            defaults={"hidden": [128, 64], "dropout": 0.1},
            small_data_defaults={"hidden": [64], "dropout": 0.3},
            data_fields=("in_features", "num_outputs"),
            smallest_data={"in_features": 1, "num_outputs": 2},
            training={"batch_size": 64, "small_batch_size": 16, "lr": 1e-3, "min_steps": 1500, "max_epochs": 200},
        ),
        Architecture(
            name="cnn",
            network=CNN,
            build=_build_cnn,
            input_kind=IMAGE,
            tasks=(CLASSIFICATION, IMAGE_CLASSIFICATION),
            serves="classification of images (square pixel columns or NPZ arrays) and image-classification",
            defaults={"channels": [32, 64], "dropout": 0.1},
            data_fields=("in_channels", "image_size", "num_outputs"),
            smallest_data={"in_channels": 1, "num_outputs": 2},
            training={"batch_size": 32, "lr": 2e-3, "min_steps": 1000, "max_epochs": 30},
        ),
        Architecture(
            name="textcnn",
            network=TextCNN,
            build=_build_textcnn,
            input_kind=TEXT,
            tasks=(TEXT_CLASSIFICATION,),
            serves="text-classification only",
            defaults={"embed_dim": 64, "kernel_sizes": [3, 4, 5], "num_filters": 64, "dropout": 0.1},
            data_fields=("vocab_size", "max_len", "num_outputs"),
            smallest_data={"vocab_size": 16, "num_outputs": 2},
            training={"batch_size": 32, "lr": 2e-3, "min_steps": 300, "max_epochs": 20},
        ),
        Architecture(
            name="transformer",
            network=TransformerClassifier,
            build=_build_transformer,
            input_kind=TEXT,
            tasks=(TEXT_CLASSIFICATION,),
            serves="text-classification only",
            defaults={"embed_dim": 64, "num_heads": 4, "num_layers": 2, "dropout": 0.1},
            data_fields=("vocab_size", "max_len", "num_outputs"),
            smallest_data={"vocab_size": 16, "num_outputs": 2},
            training={"batch_size": 32, "lr": 2e-3, "min_steps": 300, "max_epochs": 20},
            max_len=TRANSFORMER_MAX_LEN,
            fixed_length=True,
        ),
    )
}
ARCHITECTURES = tuple(REGISTRY)  # the names, in registry order


def get(name) -> Architecture:
    """The registry entry of `name`; SpecError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise SpecError(f"'architecture' must be one of {', '.join(REGISTRY)}; got {name!r}")
    return REGISTRY[name]


def input_kind(name) -> str | None:
    """TABULAR, IMAGE or TEXT for a known architecture, None for anything else."""
    entry = REGISTRY.get(name) if isinstance(name, str) else None
    return entry.input_kind if entry else None
