"""finetune: a pretrained Hugging Face checkpoint (a model version of format hf) and a text-classification
dataset version -> a new model version of format hf, fine-tuned in full or with LoRA adapters (merged in).

The spec: `{base_version, dataset_version, model (id or new name), method, lora, max_length, hyperparameters,
precision, text_column, split, description}`; see SPEC_SCHEMA. The split is the train kind's (the same seed
gives the same rows), so evaluations of a fine-tuned version and of a `textcnn` trained on the same data set
version compare on the same test rows. The loop is ml/finetune.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings

from accounts_app.models import Team, User
from datasets_app import blobs
from datasets_app.models import DatasetVersion, Task
from jobs_app import services, specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.kinds.train import METRIC_DIRECTIONS as TRAIN_DIRECTIONS
from jobs_app.kinds.train import _check_missing_values, _model_for, text_column
from jobs_app.models import Job, OutputKind
from jobs_app.runners.reporter import RegistryReporter
from ml import finetune as engine
from ml import formats
from ml.data import DataError, encode_targets, split_indices
from ml.evaluate import classification_metrics, softmax
from ml.hf import TOKENIZER
from ml.pipeline import SPLIT_DEFAULTS, split_config
from models_app import checkpoints
from models_app import services as model_services
from models_app.models import ModelVersion, WeightsFormat

DESCRIPTION = (
    "Fine-tune a pretrained Hugging Face encoder (a model version of format hf) on a text-classification "
    "dataset version, in full or with LoRA; registers a new version of format hf."
)
METRIC_DIRECTIONS = {**TRAIN_DIRECTIONS, "tokens_per_s": "max", "memory_mb": "min"}
MAX_LENGTH_LIMIT = 8192
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "finetune job spec",
    "type": "object",
    "required": ["base_version", "dataset_version", "model"],
    "additionalProperties": False,
    "properties": {
        "base_version": {
            "type": "string",
            "format": "uuid",
            "description": "The pretrained checkpoint: a model version of format hf (eco models import).",
        },
        "dataset_version": {"type": "string", "format": "uuid", "description": "Text-classification data."},
        "model": {
            "type": "string",
            "minLength": 1,
            "maxLength": specs.MODEL_NAME_MAX,
            "description": "A model id of the team, or a name: the model is created on first use.",
        },
        "method": {
            "enum": list(engine.METHODS),
            "default": "full",
            "description": "full: every weight trains; lora: low-rank adapters on the attention (peft), merged "
            "into the weights of the registered version (or stored as an adapter on the base: lora.merge false).",
        },
        "lora": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "LoRA settings (method lora only).",
            "properties": {
                "r": {"type": "integer", "minimum": 1, "maximum": 1024, "default": engine.LORA_DEFAULTS["r"]},
                "alpha": {"type": "number", "minimum": 0.001, "default": engine.LORA_DEFAULTS["alpha"]},
                "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "default": engine.LORA_DEFAULTS["dropout"]},
                "target_modules": {
                    "type": ["array", "null"],
                    "items": {"type": "string"},
                    "default": None,
                    "description": "The linear layers to adapt (default: the query and value projections).",
                },
                "merge": {
                    "type": "boolean",
                    "default": True,
                    "description": "true: the version holds the merged weights; false: only the adapter (and "
                    "the new head) on its base version, merged when it is served, evaluated or exported.",
                },
            },
        },
        "max_length": {
            "type": ["integer", "null"],
            "minimum": 8,
            "maximum": MAX_LENGTH_LIMIT,
            "default": engine.MAX_LENGTH_DEFAULT,
            "description": "Tokens per text (longer texts are truncated); at most the checkpoint's own limit.",
        },
        "hyperparameters": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                key: {
                    "type": "integer" if key in engine.INTEGER else "number",
                    "minimum": engine.LIMITS[key][0],
                    "maximum": engine.LIMITS[key][1],
                    "default": default,
                }
                for key, default in engine.DEFAULTS.items()
            },
            "description": "lr defaults to 5e-5 (full) or 5e-4 (lora); a step sees batch_size x "
            "gradient_accumulation rows; checkpoint_every N optimizer steps (0: at epoch ends only).",
        },
        "precision": {
            "enum": list(engine.PRECISIONS),
            "default": "auto",
            "description": "auto: bf16 autocast on a GPU, float32 on the CPU.",
        },
        "text_column": {"type": ["string", "null"], "description": "The text column (default: the only one)."},
        "split": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "As the train kind's: the same seed gives the same rows.",
            "properties": {key: {"default": value} for key, value in SPLIT_DEFAULTS.items()},
        },
        "description": {"type": ["string", "null"]},
    },
}


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The finetune spec with defaults filled in (ValidationError / UserError naming the field otherwise)."""
    base = specs.model_version(user, team, spec.get("base_version"), "spec.base_version")
    if base.format != WeightsFormat.HF:
        raise specs.error(
            "spec.base_version",
            f"{base.model.name} v{base.version} is a {base.format} version; fine-tuning starts from a Hugging Face "
            "checkpoint (import one with eco models import, or POST models/{id}/versions/import/).",
        )
    lora_given = spec.get("lora")
    if base.spec.get("adapter") and isinstance(lora_given, dict) and lora_given.get("merge") is False:
        raise specs.error(
            "spec.lora.merge",
            f"{base.model.name} v{base.version} is itself a LoRA adapter on its base; an adapter is stored on a "
            "version that holds its whole weights: set merge true (the result holds the merged weights).",
        )
    version = specs.dataset_version(user, team, spec.get("dataset_version"))
    if version.dataset.task != Task.TEXT_CLASSIFICATION:
        raise specs.error(
            "spec.dataset_version",
            f"dataset '{version.dataset.name}' is {version.dataset.task}; fine-tuning takes text-classification data.",
        )
    out: dict = {"base_version": str(base.pk), "dataset_version": str(version.pk)}
    out.update(specs.model_field(team, spec.get("model"), version.dataset.task))
    out["text_column"] = text_column(version, spec.get("text_column"))
    _check_missing_values(version, [out["text_column"]], None)
    method = spec.get("method") or "full"
    precision = spec.get("precision") or "auto"
    hyper, lora = spec.get("hyperparameters"), spec.get("lora")
    for field, value in (("hyperparameters", hyper), ("lora", lora)):
        if value is not None and not isinstance(value, dict):
            raise specs.error(f"spec.{field}", "must be an object.")
    try:
        engine.check_settings(method, hyper, lora, precision)
        split = split_config(spec.get("split"))
    except DataError as exc:
        raise exc.prefixed("spec.split") from None
    except engine.HyperparameterError as exc:
        raise exc.prefixed("spec") from None
    limit = min(MAX_LENGTH_LIMIT, int(base.spec.get("max_length") or 512))
    max_length = spec.get("max_length") or min(engine.MAX_LENGTH_DEFAULT, limit)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 8 <= max_length <= limit:
        raise specs.error("spec.max_length", f"must be an integer from 8 to {limit} (the checkpoint's limit).")
    out.update(
        method=method,
        precision=precision,
        max_length=max_length,
        hyperparameters=hyper or {},
        split=split,
    )
    if lora:
        out["lora"] = lora
    specs.description(spec, out)
    return out


def run(job: Job, reporter: RegistryReporter) -> None:
    keep_adapter = job.spec["method"] == "lora" and (job.spec.get("lora") or {}).get("merge") is False
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as scratch:
        _run(job, reporter, Path(scratch) / "adapter" if keep_adapter else None)


def _run(job: Job, reporter: RegistryReporter, adapter_dir: Path | None) -> None:
    """Fine-tune and register; with `adapter_dir` (lora.merge false) the LoRA adapter saved there is what the
    version stores, on its base."""
    spec = job.spec
    base = ModelVersion.objects.select_related("model").get(pk=spec["base_version"])
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    with blobs.local_copy(version.blob) as path:
        columns = formats.arrays(path, version.format, version.schema)
    texts = np.asarray(columns[spec["text_column"]], dtype=object)
    targets, labels = encode_targets(columns[version.target], version.dataset.task)
    classes = labels["classes"]
    train_index, val_index, test_index = split_indices(targets, **spec["split"])
    device = "cuda" if job.resources.get("gpus") else "cpu"
    reporter.log(
        f"{spec['method']} fine-tuning of {base.model.name} v{base.version} ({base.num_parameters:,} parameters) on "
        f"{len(train_index)} train / {len(val_index)} validation / {len(test_index)} test rows, {len(classes)} "
        f"classes, device {device}"
    )
    settings_ = {
        "train_texts": texts[train_index].tolist(),
        "train_targets": targets[train_index],
        "validation_texts": texts[val_index].tolist(),
        "validation_targets": targets[val_index],
        "classes": classes,
        "method": spec["method"],
        "hyperparameters": spec.get("hyperparameters"),
        "lora": spec.get("lora"),
        "max_length": spec["max_length"],
        "precision": spec.get("precision", "auto"),
        "step_delay_s": settings.ECO_TRAIN_STEP_DELAY_S,
        "adapter_out": None if adapter_dir is None else str(adapter_dir),
    }
    world = max(job.resources.get("processes", 1), job.resources.get("gpus", 0))
    with checkpoints.local_folder(base) as folder:
        if world > 1:
            reporter.log(
                f"{world} processes with DistributedDataParallel ({'NCCL' if device == 'cuda' else 'gloo'}), "
                f"{(spec.get('hyperparameters') or {}).get('batch_size', engine.DEFAULTS['batch_size'])} rows a "
                "micro-batch in each"
            )
            with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as result:
                outcome = engine.finetune_processes(
                    world,
                    folder=str(folder),
                    reporter=reporter,
                    out=result,
                    device=device,
                    tmp_dir=settings.FILE_UPLOAD_TEMP_DIR,
                    **settings_,
                )
        else:
            outcome = engine.finetune(folder, reporter=reporter, device=device, **settings_)

    def scores(index) -> dict:
        logits = engine.logits_of(
            outcome.model, outcome.tokenizer, texts[index].tolist(), max_length=spec["max_length"]
        )
        return classification_metrics(targets[index], softmax(logits), classes)

    metrics = scores(test_index)
    if len(val_index):
        metrics.update({f"val_{k}": v for k, v in scores(val_index).items()})
    hyper, lora = engine.check_settings(
        spec["method"], spec.get("hyperparameters"), spec.get("lora"), spec["precision"]
    )
    params = {
        "method": spec["method"],
        "hyperparameters": hyper,
        **({"lora": lora} if lora else {}),
        "max_length": spec["max_length"],
        "precision": spec["precision"],
        "split": {
            **spec["split"],
            "train_rows": len(train_index),
            "validation_rows": len(val_index),
            "test_rows": len(test_index),
        },
        "device": device,
        "processes": world,
        "steps": outcome.steps,
        "resumed_from_step": outcome.resumed_from_step,
        "trainable_parameters": outcome.trainable_parameters,
        "train_seconds": round(outcome.train_seconds, 4),
    }
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        out = Path(tmp)
        if adapter_dir is None:
            outcome.model.save_pretrained(out)
        else:  # the adapter (its weights hold the new head too) beside the fine-tuned config (labels, head size)
            outcome.model.config.save_pretrained(out)
            for name in (engine.ADAPTER_CONFIG, engine.ADAPTER_WEIGHTS):
                shutil.copyfile(adapter_dir / name, out / name)
        outcome.tokenizer.save_pretrained(out)
        if adapter_dir is not None:  # merged on its base once now, so a version that would not load is never made
            with (
                checkpoints.local_folder(base) as folder,
                tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as merged,
            ):
                engine.merge_adapter(folder, out, merged, lora)
        reporter.log(f"fine-tuned in {outcome.steps} steps, {outcome.train_seconds:.1f} s over all attempts")

        def register(locked: Job) -> dict:
            model = _model_for(locked, version)
            model_version = model_services.register_checkpoint(
                actor=locked.created_by,
                model=model,
                folder=out,
                spec_extra={
                    "task": version.dataset.task,
                    "target": version.target,
                    "text_column": spec["text_column"],
                    "classes": classes,
                    "max_length": spec["max_length"],
                    # what evaluation and serving read (ml.data.prepare, ml.inference.encode): raw texts,
                    # tokenized by the checkpoint's own tokenizer in the runtime
                    "preprocessing": {
                        "kind": "text",
                        "tokenizer": TOKENIZER,
                        "text_column": spec["text_column"],
                        "classes": classes,
                    },
                    "base_version": str(base.pk),
                    "method": spec["method"],
                },
                metrics=metrics,
                params=params,
                dataset_versions=[version],
                description=spec.get("description", ""),
                parent=base,
                lora=lora if adapter_dir is not None else None,
                merged_parameters=sum(p.numel() for p in outcome.model.parameters()),
            )
            services.record_output(job=locked, kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)
            return {"model": str(model.pk), "model_version": str(model_version.pk), "version": model_version.version}

        reporter.close()
        services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)
