"""export and quantize: a model version -> a new version (ONNX with a dynamic batch axis, TorchScript, or
dynamic-int8 ONNX) whose parent is the source. Each records, on the evaluation data, its size, the parity
(max abs difference of its outputs from the source's, and that over the outputs' scale), its latency for
one input and for 64, and the change of the headline metric."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File

from accounts_app.models import Team, User
from datasets_app.models import DatasetVersion
from eco.formats import hf_file_role
from jobs_app import services, specs
from jobs_app.kinds.evaluate import encoded_data
from jobs_app.models import Job, JobKind, OutputKind
from jobs_app.runners.reporter import RegistryReporter
from ml import hf, optimize
from ml.artifacts import load_model
from ml.evaluate import headline, metrics_from_outputs
from ml.inference import run_batched
from ml.runtimes import load_runtime
from ml.train import Stopped
from models_app import checkpoints
from models_app import services as model_services
from models_app.models import ModelVersion, Split, WeightsFormat

SUFFIX = {WeightsFormat.ONNX: "onnx", WeightsFormat.TORCHSCRIPT: "pt"}


def _latency(runtime, inputs) -> dict:
    return {f"batch_{n}": optimize.latency_ms(runtime, inputs, batch=n, repeats=30) for n in (1, 64)}


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    source = ModelVersion.objects.select_related("blob", "model").get(pk=spec["model_version"])
    data = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    arrays = encoded_data(source, data, spec["split"])
    fmt = spec["format"] if job.kind == JobKind.EXPORT else WeightsFormat.ONNX
    with (
        tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp,
        checkpoints.local_files(source) as (src_path, folder),
    ):
        out = Path(tmp) / f"model.{SUFFIX[fmt]}"
        # a fine-tuned checkpoint's graph runs beside its tokenizer: every file of the source but its weights
        linked = [(f.name, f.blob) for f in source.files.all() if hf_file_role(f.name) in ("config", "tokenizer")]
        source_runtime = load_runtime(source.format, source.spec, src_path, folder=folder)
        if job.kind == JobKind.QUANTIZE and source.format == WeightsFormat.ONNX:
            optimize.quantize_int8(src_path, out)
        elif source.format == WeightsFormat.HF:
            fp32 = out if job.kind == JobKind.EXPORT else Path(tmp) / "fp32.onnx"
            hf.export_onnx(folder, source.spec, fp32)
            if job.kind == JobKind.QUANTIZE:
                optimize.quantize_int8(fp32, out)
        else:
            network = load_model(source.spec, src_path)
            if job.kind == JobKind.QUANTIZE:
                optimize.export_onnx(network, source.spec, Path(tmp) / "fp32.onnx")
                optimize.quantize_int8(Path(tmp) / "fp32.onnx", out)
            elif fmt == WeightsFormat.ONNX:
                optimize.export_onnx(network, source.spec, out)
            else:
                optimize.export_torchscript(network, source.spec, out)
        reporter.set_progress(0.5)
        if reporter.should_stop():
            raise Stopped("stopped after converting")
        runtime = load_runtime(fmt, source.spec, out, folder=folder)
        reference = run_batched(source_runtime, arrays.inputs)
        candidate = run_batched(runtime, arrays.inputs)
        task = source.spec["task"]
        classes = arrays.preprocessing.get("classes")
        before = metrics_from_outputs(reference, arrays.targets, task, classes=classes)
        after = metrics_from_outputs(candidate, arrays.targets, task, classes=classes)
        metric, score_before = headline(before)
        _, score_after = headline(after)
        size, source_size = optimize.file_size(out), source.blob.size_bytes
        if folder is not None and source.spec.get("adapter"):  # its blob is the adapter: compare with the merged
            source_size = optimize.file_size(Path(folder) / "model.safetensors")
        params = {
            "optimization": "export" if job.kind == JobKind.EXPORT else "quantize",
            "format": fmt,
            "dtype": spec.get("dtype", "float32"),
            "source_version": str(source.pk),
            "size_bytes": size,
            "source_size_bytes": source_size,
            "size_ratio": round(size / source_size, 4) if source_size else None,
            "parity_max_abs_diff": optimize.max_abs_difference(reference, candidate),
            # the same over the outputs' scale: comparable across models whatever their target's units
            "parity_max_rel_diff": optimize.relative_difference(reference, candidate, source.spec),
            "metric": metric,
            "source_score": score_before,
            "score": score_after,
            "score_change": None if score_before is None else round(score_after - score_before, 6),
            "latency_ms": _latency(runtime, arrays.inputs),
            "source_latency_ms": _latency(source_runtime, arrays.inputs),
            "evaluated_on": {"dataset_version": str(data.pk), "split": spec["split"], "rows": len(arrays)},
        }
        if "split" in source.params:
            params["split"] = source.params["split"]
        reporter.log(
            f"{fmt} {params['dtype']}: {size} bytes ({source_size} before), "
            f"parity {params['parity_max_abs_diff']:.3g} ({params['parity_max_rel_diff']:.3g} of the outputs' scale), "
            f"{metric} {score_before:.4f} -> {score_after:.4f}, "
            f"p50 {params['latency_ms']['batch_1']['p50']:.3f} ms for one input"
        )
        reporter.close()
        dataset_versions = list(DatasetVersion.objects.filter(model_links__model_version=source))

        def register(locked: Job) -> dict:
            with open(out, "rb") as fh:
                version = model_services.register_version(
                    actor=locked.created_by,
                    model=source.model,
                    weights_path=out,
                    weights=File(fh, name=out.name),
                    # the graph holds every weight: an adapter source's own file list does not carry over
                    spec={k: v for k, v in source.spec.items() if k not in ("adapter", "weights")},
                    metrics=after,
                    params=params,
                    dataset_versions=dataset_versions,
                    description=spec.get("description", "") or f"{params['optimization']} of v{source.version}",
                    from_job=True,
                    parent=source,
                    fmt=fmt,
                    linked_files=linked,
                )
                services.record_output(job=locked, kind=OutputKind.MODEL_VERSION, object_id=version.pk)
            return {
                "model_version": str(version.pk),
                "version": version.version,
                "size_bytes": size,
                "parity_max_abs_diff": params["parity_max_abs_diff"],
                "parity_max_rel_diff": params["parity_max_rel_diff"],
                "score_change": params["score_change"],
            }

        services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)


# --- the spec (export and quantize) -------------------------------------------------------------------


# The spec fields both optimization kinds share: the source and the data its copy is measured on (JSON Schema).
SOURCE_SPEC_PROPERTIES = {
    "model_version": {"type": "string", "format": "uuid", "description": "A version trained by an Eco job."},
    "dataset_version": {
        "type": ["string", "null"],
        "format": "uuid",
        "description": "The data parity, accuracy and latency are measured on; default: the source's training data.",
    },
    "split": {"enum": Split.values, "default": Split.TEST},
    "description": {"type": ["string", "null"]},
}


def check_source(user: User, team: Team, spec: dict, kind: str) -> tuple[dict, ModelVersion]:
    """The source version and the data its parity, accuracy and latency are measured on: `dataset_version`
    when given, else the data set the source was trained on; `split` defaults to test."""
    source = specs.model_version(user, team, spec.get("model_version"))
    absent = [k for k in ("task", "target", "preprocessing") if k not in source.spec]
    if absent:
        raise specs.error(
            "spec.model_version",
            f"{kind} needs a version trained by an Eco job (its spec has no {', '.join(absent)}), to measure "
            "the new version against the source on real data.",
        )
    if spec.get("dataset_version") not in (None, ""):
        data = specs.dataset_version(user, team, spec["dataset_version"])
    else:
        link = source.dataset_links.first()
        if link is None:
            raise specs.error(
                "spec.dataset_version", "the source version names no training data; give a dataset_version."
            )
        data = DatasetVersion.objects.select_related("dataset").get(pk=link.dataset_version_id)
    split = spec.get("split", Split.TEST)
    if split not in Split.values:
        raise specs.error("spec.split", f"must be one of {', '.join(Split.values)}; got {split!r}.")
    out = {"model_version": str(source.pk), "dataset_version": str(data.pk), "split": split}
    specs.description(spec, out)
    return out, source
