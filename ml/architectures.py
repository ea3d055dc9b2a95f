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
"""

from __future__ import annotations

import torch
from torch import nn

from ml.errors import UserError

ARCHITECTURES = ("mlp", "cnn", "textcnn", "transformer")
TABULAR, IMAGE, TEXT = "tabular", "image", "text"
INPUT_KIND = {"mlp": TABULAR, "cnn": IMAGE, "textcnn": TEXT, "transformer": TEXT}


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

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        padding = tokens == 0
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embedding(tokens) + self.position(positions)
        x = self.encoder(x, src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(self.norm(pooled))


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
    if architecture not in ARCHITECTURES:
        raise SpecError(f"'architecture' must be one of {', '.join(ARCHITECTURES)}; got {architecture!r}")
    outputs = _positive_int(spec, "num_outputs")
    dropout = _dropout(spec)
    if architecture == "mlp":
        return MLP(_positive_int(spec, "in_features"), outputs, _int_list(spec, "hidden", [128, 64]), dropout)
    if architecture == "cnn":
        return CNN(_positive_int(spec, "in_channels", 1), outputs, _int_list(spec, "channels", [32, 64]), dropout)
    vocab = _positive_int(spec, "vocab_size")
    embed = _positive_int(spec, "embed_dim", 64)
    if architecture == "textcnn":
        return TextCNN(
            vocab,
            outputs,
            embed,
            _int_list(spec, "kernel_sizes", [3, 4, 5]),
            _positive_int(spec, "num_filters", 64),
            dropout,
        )
    heads = _positive_int(spec, "num_heads", 4)
    if embed % heads:
        raise SpecError(f"'embed_dim' ({embed}) must be divisible by 'num_heads' ({heads})")
    return TransformerClassifier(
        vocab,
        outputs,
        embed,
        heads,
        _positive_int(spec, "num_layers", 2),
        _positive_int(spec, "max_len", 128),
        dropout,
    )
