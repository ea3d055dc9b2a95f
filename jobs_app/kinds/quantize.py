"""quantize: see DESCRIPTION. The runner and the checks of the source version are shared with the other
optimization kind, in jobs_app/runners/optimize.py."""

from __future__ import annotations

from accounts_app.models import Team, User
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.runners import optimize

DESCRIPTION = (
    "Quantize a model version to dynamic-int8 ONNX; registers it as its child, with its parity, size and latency."
)
QUANTIZE_DTYPES = ("int8",)
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "quantize job spec",
    "type": "object",
    "required": ["model_version"],
    "additionalProperties": False,
    "properties": {
        **optimize.SOURCE_SPEC_PROPERTIES,
        "dtype": {"enum": list(QUANTIZE_DTYPES), "default": "int8"},
    },
}
run = optimize.run


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The quantize spec with the measuring data and split filled in (ValidationError naming the field)."""
    out, source = optimize.check_source(user, team, spec, "quantize")
    dtype = spec.get("dtype", "int8")
    if dtype not in QUANTIZE_DTYPES:
        raise specs.error("spec.dtype", f"must be one of {', '.join(QUANTIZE_DTYPES)}; got {dtype!r}.")
    if source.format == "torchscript" or source.params.get("optimization") == "quantize":
        raise specs.error(
            "spec.model_version", f"v{source.version} cannot be quantized; quantize a safetensors or fp32 ONNX version."
        )
    return {**out, "dtype": dtype}
