"""The train loop. It reports through a small `Reporter` protocol (metrics, progress, checkpoints,
should-stop) so the same code runs in a Celery worker (jobs_app implements the protocol against the
registry) and in a test. Deterministic for a seed on the CPU; checkpoints hold tensors and JSON only,
so resuming never unpickles anything.

Regression targets are learnt standardised, (target - mean) / std with the train rows' statistics, so the
optimizer sees the same problem whether the target is in units or in trillions of units (targets around
1e12 otherwise leave the output layer far from the data after any sensible number of steps). The
scaling is folded into the network's output layer only once the loop is done, so checkpoints (and a resumed
fit) stay in the standardised space while the returned model answers in the target's units.

`fit_processes` runs the same loop in several processes with DistributedDataParallel (ml/distributed.py): the
batch size is then per process, and N processes give the weights one process gives with N times the batch.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ml.architectures import IMAGE, REGISTRY, TABULAR, TEXT, build_model, rescale_outputs
from ml.data import Arrays, DataError
from ml.errors import UserError
from ml.evaluate import evaluate, metrics_from_outputs, predict

DEFAULTS = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "seed": 0, "log_every": 10}
LIMITS = {
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "lr": (1e-8, 10.0),
    "weight_decay": (0.0, 1.0),
    "seed": (0, 2**31 - 1),
    "log_every": (1, 1_000_000),
}
INTEGER = {"epochs", "batch_size", "seed", "log_every"}


class HyperparameterError(UserError):
    """A hyperparameter is unknown or out of range; the message names it."""


class TrainingError(UserError):
    """Training cannot go on (a NaN loss, say); the message is one clear line. The job's own fault: a worker
    fails the job with it and does not retry."""


class Stopped(Exception):
    """The reporter asked to stop (the job was cancelled or timed out)."""


class Reporter(Protocol):
    def log_metrics(self, step: int, metrics: dict[str, float]) -> None: ...
    def set_progress(self, fraction: float) -> None: ...
    def log(self, message: str) -> None: ...
    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict) -> None: ...
    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict] | None: ...
    def should_stop(self) -> bool: ...

    # Optional: `together()`, a context manager within which what is reported (an epoch's summary, its log
    # line, its checkpoint) is recorded all at once or not at all; see `_together`. And `checkpoint_on_stop()`:
    # True when the stop asked for is a preemption, so the loop saves where it is (mid-epoch) before stopping.


def _together(reporter: Reporter):
    """The reporter's `together()` block when it has one (the registry's does), else a no-op."""
    together = getattr(reporter, "together", None)
    return together() if together is not None else nullcontext()


class NullReporter:
    """A Reporter that keeps nothing and never asks to stop: for training outside a job (scripts, benchmarks)."""

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def set_progress(self, fraction: float) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        pass

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict] | None:
        return None

    def should_stop(self) -> bool:
        return False


def hyperparameters(given: dict | None) -> dict:
    """Defaults filled in, every value checked (raises HyperparameterError naming the key)."""
    return checked_numbers(given, DEFAULTS, LIMITS, INTEGER)


def checked_numbers(given: dict | None, defaults: dict, limits: dict, integer: set[str]) -> dict:
    """`defaults` overridden by `given`, each value a number within `limits[key]` (inclusive), an integer for
    the keys in `integer`; a default of None stays None unless given. Raises HyperparameterError naming the
    key: unknown, not a number, out of range."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise HyperparameterError(f"unknown hyperparameter(s): {', '.join(unknown)}; known: {', '.join(defaults)}")
    merged = {**defaults, **given}
    for key, value in merged.items():
        if key not in limits or (value is None and key not in given):
            continue
        low, high = limits[key]
        kind = "an integer" if key in integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HyperparameterError(f"'{key}' must be {kind}, got {value!r}")
        if not (low <= value <= high):  # False for NaN too; big ints compare without overflow
            raise HyperparameterError(f"'{key}' must be between {low} and {high}, got {value!r}")
        if key in integer and value != int(value):
            raise HyperparameterError(f"'{key}' must be {kind}, got {value!r}")
        merged[key] = int(value) if key in integer else float(value)
    return merged


def pick_device(requested: str | None = None) -> str:
    """ "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N"."""
    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return requested
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        raise TrainingError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type != "cuda":
        raise TrainingError(f"unsupported device {requested!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count():
        raise TrainingError(f"{requested} was requested but this machine has no such GPU")
    return requested


def check_fits_data(spec: dict, task: str, train: Arrays) -> None:
    """The network the spec describes can take these inputs and produce these targets (checked up front:
    on a GPU a mismatch would otherwise be a device-side assert that poisons the worker)."""
    outputs = spec.get("num_outputs")
    if task == "regression":
        if outputs != 1:
            raise TrainingError(f"regression needs num_outputs = 1, the spec has {outputs}")
    else:
        classes = len(train.preprocessing.get("classes") or []) or int(train.targets.max()) + 1
        if outputs != classes:
            raise TrainingError(f"the data has {classes} classes, the spec's num_outputs is {outputs}")
    name, shape = spec.get("architecture"), train.inputs.shape
    entry = REGISTRY.get(name) if isinstance(name, str) else None
    kind = entry.input_kind if entry else None
    if kind == TABULAR and (len(shape) != 2 or shape[1] != spec.get("in_features")):
        raise TrainingError(
            f"the data has {shape[1:]} features per row, the spec's in_features is {spec.get('in_features')}"
        )
    if kind == IMAGE and (len(shape) != 4 or shape[1] != spec.get("in_channels", 1)):
        raise TrainingError(
            f"the {entry.name} needs images shaped (N, {spec.get('in_channels', 1)}, H, W); the data is {shape}"
        )
    if kind == TEXT:
        top = int(train.inputs.max(initial=0))
        if len(shape) != 2 or top >= spec.get("vocab_size", 0):
            raise TrainingError(f"token ids reach {top}, the spec's vocab_size is {spec.get('vocab_size')}")
        max_len = spec.get("max_len", entry.max_len)
        if entry.fixed_length and shape[1] > max_len:
            raise TrainingError(f"sequences are {shape[1]} tokens, the spec's max_len is {max_len}")


@dataclass
class FitResult:
    model: nn.Module
    metrics: dict = field(default_factory=dict)
    epochs_run: int = 0
    resumed_from_epoch: int | None = None
    train_seconds: float = 0.0  # the training time of every epoch, over every attempt (kept in the checkpoint)
    target_mean: float | None = None  # regression: the train targets' mean and standard deviation, folded
    target_std: float | None = None  # into the model's output layer (see `target_scaling`)


def target_scaling(targets: np.ndarray) -> tuple[float, float]:
    """(mean, std) of regression targets, computed in float64: training fits (target - mean) / std. A
    constant target gets std 1.0 (there is no spread to scale by)."""
    values = np.asarray(targets, dtype=np.float64)
    mean, std = float(values.mean()), float(values.std())
    return mean, std if std > 0 else 1.0


def _check_rescaled(model: nn.Module, train: Arrays, std: float, rows: int = 1024) -> None:
    """TrainingError when the model, rescaled to the target's units, answers inf or NaN on (up to `rows`
    of) its own train rows: float32 ends at ~3.4e38, and a diverged network times a huge target's spread
    can pass it though the standardised training stayed finite."""
    outputs = predict(model, train.inputs[:rows])
    if not np.isfinite(outputs).all():
        raise TrainingError(
            f"the network's outputs overflow float32 in the target's units (its standard deviation is {std:.3g}): "
            "lower the learning rate or check the data for extreme values"
        )


def _validation_scores(model: nn.Module, validation: Arrays, task: str, device: str, scaling) -> dict:
    """Metrics of the model being trained on the validation rows, in the target's units (a regression
    network answers standardised values until the end of `fit`). Raises TrainingError when the network's
    outputs are no longer finite (it diverged)."""
    try:
        if scaling is None:
            return evaluate(model, validation, task, device=device)
        mean, std = scaling
        outputs = predict(model, validation.inputs, device=device).astype(np.float64) * std + mean
        return metrics_from_outputs(outputs, validation.targets, task)
    except DataError as exc:
        raise TrainingError(f"training diverged: {exc}; lower the learning rate") from None


def _loss_fn(task: str):
    return nn.MSELoss() if task == "regression" else nn.CrossEntropyLoss()


def _checkpoint(
    model,
    optimizer,
    epoch: int,
    step: int,
    train_seconds: float,
    partial: dict | None = None,
    *,
    state: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """The training state as tensors and JSON. `partial` marks an on-demand checkpoint taken inside `epoch`:
    {"batch": batches of the epoch done, "seen": rows done, "epoch_loss": their summed loss, "epoch_seconds"}.
    `state` replaces the model's whole state dict (a LoRA fine-tune keeps only what it trains)."""
    state = model.state_dict() if state is None else state
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
    optim_state = optimizer.state_dict()
    for index, values in optim_state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = tensor.detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = rng
    meta = {"epoch": epoch, "step": step, "optim_groups": optim_state["param_groups"], "train_seconds": train_seconds}
    if partial is not None:
        meta["partial"] = partial
    return tensors, meta


def _restore(
    model, optimizer, tensors: dict[str, torch.Tensor], meta: dict, device: str, *, strict: bool = True
) -> None:
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=strict)
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value.to(device) if key != "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optim_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def fit(
    spec: dict,
    task: str,
    train: Arrays,
    validation: Arrays | None,
    hyper: dict,
    reporter: Reporter,
    *,
    device: str | None = None,
    step_delay_s: float = 0.0,
    rank: int = 0,
    world_size: int = 1,
) -> FitResult:
    """Train `spec` on `train`, resuming from the reporter's checkpoint when there is one. `step_delay_s`
    (seconds, for tests only) is slept after each logged step, so that a browser test sees a curve grow.

    For a regression the loss (and `train_loss`) is the mean squared error of standardised targets, the
    validation metrics are in the target's units, and the returned model answers in the target's units
    (FitResult.target_mean / target_std say how it was scaled).

    With `world_size` > 1 this is rank `rank` of a process group (ml/distributed.py, `fit_processes`): every
    rank holds all of `train` and draws the same order; each step takes the next batch_size x world_size rows
    of it, rank r its r-th slice of batch_size, and DistributedDataParallel averages the gradients of losses
    scaled so that the average is the mean over the whole global batch (the epoch's last, shorter batch
    included; a rank left without rows there runs one row weighted 0 to take part in the all-reduce). So N
    processes give the weights one process gives with batch_size x N, within float rounding, when the
    network draws no random numbers while training (dropout draws other masks per rank, from the seed, step
    and rank) and normalises no batch (BatchNorm's statistics are each rank's). `batch_size` is per process.
    Validation, metrics, log lines and checkpoints are rank 0's; every rank resumes from the same checkpoint
    and stops at the same step (`should_stop` is collective)."""
    hyper = hyperparameters(hyper)
    device = pick_device(device)
    check_fits_data(spec, task, train)
    torch.manual_seed(hyper["seed"])
    model = build_model(spec).to(device)
    net = model  # the module itself: checkpoints, validation and the result use it, never the DDP wrapper
    optimizer = torch.optim.AdamW(model.parameters(), lr=hyper["lr"], weight_decay=hyper["weight_decay"])
    loss_fn = _loss_fn(task)
    start_epoch, step, resumed, train_seconds = 0, 0, None, 0.0
    partial = None  # where an on-demand checkpoint left the epoch it was taken in
    checkpoint = reporter.load_checkpoint()
    if checkpoint is not None:
        tensors, meta = checkpoint
        _restore(model, optimizer, tensors, meta, device)
        start_epoch, step, resumed = meta["epoch"] + 1, meta["step"], meta["epoch"]
        train_seconds = float(meta.get("train_seconds", 0.0))  # the earlier attempts' epochs
        partial = meta.get("partial")
        if partial is not None:  # taken mid-epoch: that epoch goes on from the next batch
            start_epoch, resumed = meta["epoch"], meta["epoch"] - 1
            reporter.log(f"resumed from the on-demand checkpoint at epoch {meta['epoch'] + 1}, step {step}")
        else:
            reporter.log(f"resumed from the checkpoint of epoch {meta['epoch'] + 1}")

    inputs = torch.from_numpy(train.inputs)
    targets = torch.from_numpy(train.targets)
    scaling = None
    if task == "regression":
        scaling = target_scaling(train.targets)
        standardised = (train.targets.astype(np.float64) - scaling[0]) / scaling[1]
        targets = torch.from_numpy(standardised.astype(np.float32)).unsqueeze(1)
    n, batch_size, epochs = len(train), hyper["batch_size"], hyper["epochs"]
    global_batch = batch_size * world_size  # rows of one optimizer step over all ranks
    steps_per_epoch = max(1, math.ceil(n / global_batch))
    amp = torch.device(device).type == "cuda"
    distributed = world_size > 1
    if distributed:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[torch.device(device).index or 0] if amp else None)

    def total(*values: float) -> list[float]:
        """The values summed over the ranks."""
        tensor = torch.tensor(values, dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
        dist.all_reduce(tensor)
        return tensor.tolist()

    for epoch in range(start_epoch, epochs):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(hyper["seed"] * 100_003 + epoch))
        started, seen, epoch_loss, first_batch = time.perf_counter(), 0, 0.0, 0
        if partial is not None and epoch == start_epoch:  # the data order is the epoch's own: skip what was done
            first_batch, seen, epoch_loss = partial["batch"], partial["seen"], partial["epoch_loss"]
            started -= partial.get("epoch_seconds", 0.0)
        for batch_start in range(first_batch * global_batch, n, global_batch):
            if reporter.should_stop():
                if getattr(reporter, "checkpoint_on_stop", lambda: False)():
                    done = {
                        "batch": batch_start // global_batch,
                        "seen": seen,
                        "epoch_loss": epoch_loss,
                        "epoch_seconds": time.perf_counter() - started,
                    }
                    with _together(reporter):
                        reporter.log(f"on-demand checkpoint at epoch {epoch + 1}, step {step}")
                        reporter.save_checkpoint(*_checkpoint(net, optimizer, epoch, step, train_seconds, done))
                raise Stopped(f"stopped at epoch {epoch + 1}, step {step}")
            if not distributed:
                index = order[batch_start : batch_start + batch_size]
                x, y = inputs[index].to(device, non_blocking=True), targets[index].to(device, non_blocking=True)
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                    loss = loss_fn(model(x).float(), y)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                        "lower the learning rate or check the data for extreme values"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                rows, batch_loss = len(index), loss.item()
            else:
                # dropout's masks come from (seed, step, rank) alone: ranks draw different ones, and a resumed
                # run draws what an uninterrupted one draws (every rank restored rank 0's RNG state)
                torch.manual_seed((hyper["seed"] * 1_000_003 + step * 1_009 + rank) % 2**63)
                rows = min(n, batch_start + global_batch) - batch_start
                index = order[batch_start + rank * batch_size : min(batch_start + (rank + 1) * batch_size, n)]
                weight = float(len(index))
                if not len(index):  # the epoch's last batch left nothing to this rank (see the docstring)
                    index = order[batch_start : batch_start + 1]
                x, y = inputs[index].to(device, non_blocking=True), targets[index].to(device, non_blocking=True)
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                    share = loss_fn(model(x).float(), y) * weight  # this rank's summed loss
                optimizer.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients: times world_size / rows makes it the global batch's mean
                (share * (world_size / rows)).backward()
                (summed,) = total(share.item())
                batch_loss = summed / rows
                if not math.isfinite(batch_loss):  # the same sum on every rank: they all stop here
                    raise TrainingError(
                        f"the loss became {batch_loss} at epoch {epoch + 1}, step {step + 1}; "
                        "lower the learning rate or check the data for extreme values"
                    )
            optimizer.step()
            step += 1
            seen += rows
            epoch_loss += batch_loss * rows
            if step % hyper["log_every"] == 0:
                elapsed = max(time.perf_counter() - started, 1e-9)
                reporter.log_metrics(
                    step, {"loss": batch_loss, "lr": optimizer.param_groups[0]["lr"], "samples_per_s": seen / elapsed}
                )
                if step_delay_s > 0:
                    time.sleep(step_delay_s)
            reporter.set_progress(
                min(1.0, (epoch * steps_per_epoch + batch_start // global_batch + 1) / (epochs * steps_per_epoch))
            )
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        summary = {"epoch": epoch + 1, "train_loss": epoch_loss / max(seen, 1)}
        if validation is not None and len(validation) and rank == 0:  # the other ranks report nothing
            scores = _validation_scores(net, validation, task, device, scaling)
            summary.update({f"val_{k}": v for k, v in scores.items() if isinstance(v, float)})
            if not all(math.isfinite(v) for k, v in summary.items() if k.startswith("val_")):
                raise TrainingError(f"validation metrics are not finite after epoch {epoch + 1}: the network diverged")
        line = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
        with _together(reporter):  # the epoch's record and its checkpoint land together, or not at all
            reporter.log_metrics(step, summary)
            reporter.log(f"{line} ({epoch_seconds:.4f} s)")
            reporter.save_checkpoint(*_checkpoint(net, optimizer, epoch, step, train_seconds))
    reporter.set_progress(1.0)
    model = net.cpu().eval()
    if scaling is not None:
        rescale_outputs(model, scale=scaling[1], shift=scaling[0])
        _check_rescaled(model, train, scaling[1])
    return FitResult(
        model=model,
        epochs_run=epochs - start_epoch,
        resumed_from_epoch=resumed,
        train_seconds=train_seconds,
        target_mean=None if scaling is None else scaling[0],
        target_std=None if scaling is None else scaling[1],
    )


DATA = "data.safetensors"  # the arrays `fit_processes` hands its ranks (ml.distributed's checkpoint files)
WEIGHTS = "weights.safetensors"  # the weights rank 0 hands back


def distributed_entry(
    *,
    rank: int,
    world_size: int,
    reporter,
    folder: str,
    device: str,
    train_preprocessing: dict,
    validation_preprocessing: dict | None,
    **kwargs,
) -> dict | None:
    """One rank of a fit over several processes (`ml.distributed.launch` calls it in each): reads the arrays
    from `folder`/DATA, takes `cuda:r` when `device` is cuda (else the CPU) and runs `fit`. Rank 0 saves
    the trained weights to `folder`/weights.safetensors and returns FitResult's figures; the others None."""
    from ml.artifacts import save_weights
    from ml.distributed import read_checkpoint

    if device.startswith("cuda"):
        device = f"cuda:{rank}"
    tensors, _ = read_checkpoint(Path(folder) / DATA)
    data = {name: tensor.numpy() for name, tensor in tensors.items()}
    train = Arrays(data["train_inputs"], data["train_targets"], train_preprocessing)
    validation = None
    if validation_preprocessing is not None:
        validation = Arrays(data["validation_inputs"], data["validation_targets"], validation_preprocessing)
    result = fit(
        train=train, validation=validation, reporter=reporter, device=device, rank=rank, world_size=world_size, **kwargs
    )
    if rank != 0:
        return None
    save_weights(result.model, Path(folder) / WEIGHTS)
    return {
        "epochs_run": result.epochs_run,
        "resumed_from_epoch": result.resumed_from_epoch,
        "train_seconds": result.train_seconds,
        "target_mean": result.target_mean,
        "target_std": result.target_std,
    }


def fit_processes(
    world_size: int,
    *,
    reporter: Reporter,
    device: str | None = "cpu",
    tmp_dir: str | None = None,
    spec: dict,
    task: str,
    train: Arrays,
    validation: Arrays | None,
    hyper: dict,
    step_delay_s: float = 0.0,
) -> FitResult:
    """`fit` in `world_size` processes with DistributedDataParallel (gloo on the CPU, NCCL on GPUs, one per
    process); `hyper["batch_size"]` is per process, so a step takes batch_size x world_size rows. The arrays
    travel to the ranks, and the weights back from rank 0, through a temporary folder in `tmp_dir` (default:
    the system's). Raises what `ml.distributed.launch` raises: Stopped, the UserError a rank raised
    (TrainingError...), RankFailed when a process died; HyperparameterError and TrainingError for settings or
    data `fit` would refuse, before any process starts."""
    import tempfile

    from ml import distributed
    from ml.artifacts import load_model

    hyperparameters(hyper)  # what every rank would refuse, refused here without starting one
    device = pick_device(device)
    check_fits_data(spec, task, train)

    with tempfile.TemporaryDirectory(prefix="eco-fit-", dir=tmp_dir) as folder:
        arrays = {"train_inputs": train.inputs, "train_targets": train.targets}
        if validation is not None:
            arrays.update(validation_inputs=validation.inputs, validation_targets=validation.targets)
        distributed.write_checkpoint(
            Path(folder) / DATA, {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}, {}
        )
        figures = distributed.launch(
            distributed_entry,
            world_size,
            reporter=reporter,
            kwargs={
                "folder": folder,
                "device": device,
                "spec": spec,
                "task": task,
                "hyper": hyper,
                "step_delay_s": step_delay_s,
                "train_preprocessing": train.preprocessing,
                "validation_preprocessing": None if validation is None else validation.preprocessing,
            },
            backend="nccl" if device.startswith("cuda") else "gloo",
            tmp_dir=tmp_dir,
        )
        model = load_model(spec, Path(folder) / WEIGHTS)
    return FitResult(model=model, **figures)
