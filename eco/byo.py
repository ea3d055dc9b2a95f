"""Models you bring: register an ONNX graph or safetensors weights made outside Eco, and export a torch module
to ONNX with a parity check. Django-free; torch and onnxruntime are imported only by `export_torch` (and by
`log_model` when given a module), so the light client never needs them.

    from eco import Client
    from eco.byo import log_model
    eco = Client(url, token)
    spec = {"task": "classification", "target": "target",
            "preprocessing": {"kind": "tabular", "feature_names": [...], "classes": ["a", "b", "c"]}}
    version = log_model(eco, model="iris-byo", team="demo", artifact=net, spec=spec, example_input=x)

The spec of an ONNX graph is its serving spec (README, "Models you bring"); safetensors weights take an Eco
architecture spec, as `Client.register_version` does.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

from eco.client import Client, EcoError, _is_uuid
from eco.formats import sniff_format


class ExportError(ValueError):
    """A torch module could not be exported to ONNX, or its export does not give the module's outputs."""


def _model_id(client: Client, model: str, *, team: str | None, task: str | None) -> str:
    """The id of the model `model` (an id, or a name in your teams / in `team`); a name not found is created in
    `team` with the spec's `task`."""
    if _is_uuid(model):
        return model
    try:
        return client.resolve("models", model, team=team)
    except EcoError as exc:
        if exc.status != 404:
            raise
    if not team or not task:
        raise EcoError(
            404,
            {"status": 404, "code": "not_found", "detail": f"No model named {model!r}; give team= to create it."},
        )
    return client.create_model(team=team, name=model, task=task)["id"]


def register_model_file(
    client: Client,
    *,
    model: str,
    path: str | Path,
    spec: dict,
    format: str | None = None,
    team: str | None = None,
    job: str | None = None,
    metrics: dict | None = None,
    params: dict | None = None,
    dataset_versions: Iterable[str] = (),
    description: str = "",
) -> dict:
    """Register the model file at `path` as the next version of `model` (an id or a name; a new name is
    created in `team`, with the task that `spec` names) and return the model version (JSON).

    `format` is "onnx" or "safetensors"; None tells it from the file's content. `spec` is the serving spec
    for ONNX, the architecture spec for safetensors. `job` is the id of the tracking run that made the file
    (its lineage). Raises eco.formats.RefusedFile before any request when the file is a pickle or
    TorchScript archive, and EcoError with the API's answer when the server refuses it (400 naming the
    problem: operators outside the standard domain, an input that does not fit the spec, ...)."""
    path = Path(path)
    fmt = format or sniff_format(path)
    model_id = _model_id(client, model, team=team, task=spec.get("task") if isinstance(spec, dict) else None)
    data = {
        "spec": json.dumps(spec),
        "format": fmt,
        "metrics": json.dumps(metrics or {}),
        "params": json.dumps(params or {}),
        "dataset_versions": [str(v) for v in dataset_versions],
        "description": description,
    }
    if job:
        data["job"] = str(job)
    with open(path, "rb") as fh:
        return client._call("POST", f"models/{model_id}/versions/", data=data, files={"weights": (path.name, fh)})


def export_torch(module, example_input, path: str | Path, *, atol: float = 1e-4) -> dict:
    """Export the torch module `module` to an ONNX graph at `path` and prove it gives the module's outputs.

    `example_input` is one batch (a tensor or array of shape (N, ...): float features or images, or int64
    token ids). The export (opset 17, the TorchScript-based exporter) names the input "input" and the output
    "output" and keeps their batch axis dynamic. Both torch and ONNX Runtime then run the example and a batch
    of another size (the example repeated); outputs must agree within `atol` plus 1e-5 of their magnitude.
    Returns {"path", "max_abs_difference", "batches": [sizes checked]}. Raises ExportError (and leaves no file)
    when the export fails or the outputs differ."""
    import numpy as np
    import torch

    from ml.runtimes import OnnxRuntime

    if not isinstance(module, torch.nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(module).__name__}")
    path = Path(path)
    example = torch.as_tensor(
        np.asarray(example_input) if not isinstance(example_input, torch.Tensor) else example_input
    )
    if example.ndim < 2 or len(example) < 1:
        raise ExportError(f"the example input must be a batch (N, ...), got shape {list(example.shape)}")
    batches = [example, torch.cat([example, example[:1]])]  # a second batch size proves the axis is dynamic
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():  # the TorchScript-based exporter's deprecation notices: used knowingly
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,  # the dynamo exporter needs onnxscript, which Eco does not install
                opset_version=17,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
        runtime = OnnxRuntime(path)
        worst = 0.0
        for batch in batches:
            with torch.inference_mode():
                expected = module(batch).float().numpy()
            got = runtime.run(batch.numpy())
            if got.shape != expected.shape:
                raise ExportError(
                    f"the ONNX graph gives shape {list(got.shape)} where torch gives {list(expected.shape)}"
                )
            worst = max(worst, float(np.max(np.abs(got - expected))) if got.size else 0.0)
            if not np.allclose(got, expected, rtol=1e-5, atol=atol):
                raise ExportError(
                    f"the ONNX graph differs from torch by up to {float(np.max(np.abs(got - expected))):.3g} on a "
                    f"batch of {len(batch)} (allowed {atol:g})"
                )
    except ExportError:
        path.unlink(missing_ok=True)
        raise
    except Exception as exc:  # the exporter and ONNX Runtime raise many types; the message is what matters
        path.unlink(missing_ok=True)
        raise ExportError(f"cannot export the module to ONNX: {exc}") from exc
    finally:
        module.train(was_training)
    return {"path": str(path), "max_abs_difference": worst, "batches": [len(b) for b in batches]}


def log_model(
    client: Client,
    *,
    run: str | None = None,
    model: str,
    artifact,
    spec: dict,
    example_input=None,
    team: str | None = None,
    format: str | None = None,
    metrics: dict | None = None,
    params: dict | None = None,
    dataset_versions: Iterable[str] = (),
    description: str = "",
    atol: float = 1e-4,
) -> dict:
    """Register `artifact` as a version of `model` made by the tracking run `run` (its id; None: no lineage).

    `artifact` is a path to an ONNX or safetensors file, or a torch.nn.Module, which is exported to ONNX with
    `export_torch` (`example_input` required) and then registered with `spec`, its serving spec. Returns the
    model version (JSON). Raises ExportError, eco.formats.RefusedFile or EcoError (see
    `register_model_file`)."""
    common = dict(
        model=model,
        spec=spec,
        team=team,
        job=run,
        metrics=metrics,
        params=params,
        dataset_versions=dataset_versions,
        description=description,
    )
    if isinstance(artifact, (str, Path)):
        return register_model_file(client, path=artifact, format=format, **common)
    if example_input is None:
        raise ExportError("give example_input (one batch) to export a torch module")
    with tempfile.TemporaryDirectory(prefix="eco-export-") as folder:
        path = Path(folder) / "model.onnx"
        export_torch(artifact, example_input, path, atol=atol)
        return register_model_file(client, path=path, format="onnx", **common)
