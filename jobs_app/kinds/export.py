"""export: see DESCRIPTION. The runner and the checks of the source version are shared with the other
optimization kind, in jobs_app/runners/optimize.py."""

from __future__ import annotations

from accounts_app.models import Team, User
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.runners import optimize

DESCRIPTION = (
    "Export a safetensors model version to ONNX or TorchScript; registers the export as its child, with its "
    "parity, size and latency."
)
EXPORT_FORMATS = ("onnx", "torchscript")
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "export job spec",
    "type": "object",
    "required": ["model_version", "format"],
    "additionalProperties": False,
    "properties": {
        **optimize.SOURCE_SPEC_PROPERTIES,
        "format": {"enum": list(EXPORT_FORMATS)},
    },
}
run = optimize.run


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The export spec with the measuring data and split filled in (ValidationError naming the field)."""
    out, source = optimize.check_source(user, team, spec, "export")
    fmt = spec.get("format")
    if fmt not in EXPORT_FORMATS:
        raise specs.error("spec.format", f"must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}.")
    if source.format == "hf" and fmt != "onnx":
        raise specs.error("spec.format", "a fine-tuned Hugging Face checkpoint exports to onnx.")
    if source.format not in ("safetensors", "hf"):
        raise specs.error(
            "spec.model_version", f"v{source.version} is already a {source.format} version; export its parent."
        )
    return {**out, "format": fmt}
