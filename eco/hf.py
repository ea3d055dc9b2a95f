"""Log a Hugging Face `Trainer` to Eco: two lines in your own fine-tuning script.

    from eco.hf import EcoCallback
    trainer = Trainer(model=..., args=..., callbacks=[EcoCallback(team="nlp", model="reviews-bert")])

The callback opens a tracking run when training begins (`eco.start_run`, with the same keyword arguments:
`dataset_version`, `description`, `url`, `token`...; or pass an open `run=`), records the run's settings as
parameters (`TRAINING_ARGUMENTS` of the `TrainingArguments`, and the model's type, class and parameter count),
logs every number the Trainer logs (`loss`, `learning_rate`, `grad_norm`, `eval_*`, throughput...) at the
Trainer's global step, and finishes the run when training ends: failed when an exception ends it first
(`on_train_end` is not called then; the run's own exit handler records the failure). Only the main process of
a distributed run logs. It needs transformers, which the rest of the client does not.
"""

from __future__ import annotations

import functools
import math

from eco.tracking import Run, start_run

TRAINING_ARGUMENTS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_ratio",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "seed",
    "bf16",
    "fp16",
    "max_grad_norm",
    "optim",
)
"""The TrainingArguments recorded as the run's parameters: what decides the result, not where files go."""


def __getattr__(name: str):
    """`EcoCallback`, built on first use: it subclasses transformers' TrainerCallback, which the light client
    (httpx and rich only) does not install."""
    if name == "EcoCallback":
        return _callback_class()
    raise AttributeError(f"module 'eco.hf' has no attribute {name!r}")


@functools.cache
def _callback_class():
    from transformers import TrainerCallback

    class EcoCallback(TrainerCallback):
        """A `transformers.TrainerCallback` that logs the Trainer's run to Eco. `run` is an open run to log to
        (it is then left open); otherwise `start_run(**start)` opens one when training begins (`team` is
        required) and the callback finishes it when training ends."""

        def __init__(self, run: Run | None = None, **start):
            if run is None and "team" not in start:
                raise ValueError("EcoCallback needs team= (or an open run=)")
            self.run = run
            self._start = start
            self._owns_run = run is None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if not state.is_world_process_zero:
                return
            if self.run is None:
                self.run = start_run(**self._start)
            params = {f"args.{name}": getattr(args, name) for name in TRAINING_ARGUMENTS if hasattr(args, name)}
            if model is not None:
                config = getattr(model, "config", None)
                params["model.class"] = type(model).__name__
                params["model.parameters"] = sum(p.numel() for p in model.parameters())
                params["model.trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
                if config is not None:
                    params["model.type"] = getattr(config, "model_type", None)
                    params["model.name_or_path"] = getattr(config, "_name_or_path", None) or None
            self.run.log_params({k: v for k, v in params.items() if v is not None})

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or self.run is None or not logs:
                return
            numbers = {
                key: float(value)
                for key, value in logs.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            }
            if numbers:
                self.run.log_metrics(numbers, step=state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and self.run is not None and self._owns_run:
                self.run.finish()

    return EcoCallback
