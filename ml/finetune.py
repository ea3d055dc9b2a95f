"""Fine-tuning a pretrained Hugging Face encoder for text classification: the whole network (`full`) or
low-rank adapters (`lora`, through peft), with the model code of transformers and the tokenizer of the
checkpoint. Django-free; reports through `ml.train.Reporter` like the train loop.

The loop is ours, not transformers' Trainer, so that it checkpoints, resumes and stops the way every Eco job
does: a checkpoint (what is trained, AdamW's state, the learning-rate schedule's position and the RNG state) at
the end of each epoch and every `checkpoint_every` optimizer steps; a redelivered job resumes at the step after
it, with the same data order (a permutation seeded by seed and epoch) and the same dropout masks (the RNG state
is restored), so its final weights equal an uninterrupted run's. Cancelling takes effect between optimizer steps.

Hyperparameters (`DEFAULTS`): `batch_size` rows per forward pass, `gradient_accumulation` passes per optimizer
step (so a step sees batch_size x gradient_accumulation rows), AdamW with `lr` and `weight_decay` (not on biases
and LayerNorm weights, as BERT was trained), a linear schedule warming up over `warmup_ratio` of the steps
(transformers' `get_linear_schedule_with_warmup`), gradients clipped to `max_grad_norm`. `precision` "auto" is
bf16 autocast on a GPU and float32 on the CPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.evaluate import classification_metrics, softmax
from ml.train import (
    HyperparameterError,
    Reporter,
    Stopped,
    TrainingError,
    _checkpoint,
    _restore,
    _together,
    checked_numbers,
    pick_device,
)

METHODS = ("full", "lora")
DEFAULTS = {
    "epochs": 3,
    "lr": None,  # by method: LEARNING_RATES
    "batch_size": 16,
    "gradient_accumulation": 1,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "seed": 0,
    "checkpoint_every": 0,
    "log_every": 1,
}
LIMITS = {
    "epochs": (1, 1000),
    "lr": (1e-8, 1.0),
    "batch_size": (1, 4096),
    "gradient_accumulation": (1, 1024),
    "warmup_ratio": (0.0, 1.0),
    "weight_decay": (0.0, 1.0),
    "max_grad_norm": (0.0, 1e6),
    "seed": (0, 2**31 - 1),
    "checkpoint_every": (0, 10**9),
    "log_every": (1, 10**6),
}
INTEGER = {"epochs", "batch_size", "gradient_accumulation", "seed", "checkpoint_every", "log_every"}
LEARNING_RATES = {"full": 5e-5, "lora": 5e-4}
"""The default learning rates: 5e-5 is the middle of BERT's fine-tuning grid (Devlin et al. 2019, appendix
A.3); adapters train fewer weights from zero and take about ten times more (Hu et al. 2021, LoRA, table 9)."""
PRECISIONS = ("auto", "fp32", "bf16")
LORA_DEFAULTS = {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": None, "merge": True}
"""LoRA's rank, scale (alpha / r), dropout, the modules it adapts (None: peft's default for the model type,
the attention's query and value projections for BERT), and whether the registered version holds the merged
weights (True) or only the adapter on its base (False: merged when it is loaded)."""
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
"""The files peft's save_pretrained writes for an adapter (its weights hold the new task head too)."""
MAX_LENGTH_DEFAULT = 128


class FineTuneError(HyperparameterError):
    """A fine-tuning setting is not acceptable; the message names it."""


def check_settings(
    method: str, hyperparameters: dict | None, lora: dict | None, precision: str
) -> tuple[dict, dict | None]:
    """The hyperparameters with defaults filled in (the method's learning rate) and the LoRA settings (None
    for `full`). Raises FineTuneError / HyperparameterError naming the setting."""
    if method not in METHODS:
        raise FineTuneError(f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method")
    if precision not in PRECISIONS:
        raise FineTuneError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}", field="precision")
    try:
        hyper = checked_numbers(hyperparameters, DEFAULTS, LIMITS, INTEGER)
    except HyperparameterError as exc:
        raise exc.prefixed("hyperparameters") from None
    if hyper["lr"] is None:
        hyper["lr"] = LEARNING_RATES[method]
    if method == "full":
        if lora:
            raise FineTuneError("LoRA settings need method lora", field="lora")
        return hyper, None
    given = dict(lora or {})
    unknown = sorted(set(given) - set(LORA_DEFAULTS))
    if unknown:
        raise FineTuneError(
            f"unknown LoRA setting(s): {', '.join(unknown)}; known: r, alpha, dropout, target_modules, merge",
            field="lora",
        )
    merge = given.pop("merge", True)
    if not isinstance(merge, bool):
        raise FineTuneError(f"must be true or false, got {merge!r}", field="lora.merge")
    try:
        settings = checked_numbers(
            {k: v for k, v in given.items() if k != "target_modules"},
            {k: v for k, v in LORA_DEFAULTS.items() if k not in ("target_modules", "merge")},
            {"r": (1, 1024), "alpha": (1e-3, 1e4), "dropout": (0.0, 0.9)},
            {"r"},
        )
    except HyperparameterError as exc:
        raise exc.prefixed("lora") from None
    modules = given.get("target_modules")
    if modules is not None and (
        not isinstance(modules, list)
        or not modules
        or not all(isinstance(m, str) and m.replace("_", "").replace(".", "").isalnum() for m in modules)
    ):
        raise FineTuneError("must be a list of module names such as ['query', 'value']", field="lora.target_modules")
    return hyper, {**settings, "target_modules": modules, "merge": merge}


@dataclass
class FineTuneOutcome:
    model: torch.nn.Module  # a plain transformers model (LoRA merged in), on the CPU, in eval mode
    tokenizer: object
    steps: int  # optimizer steps over all attempts
    epochs_run: int  # in this attempt
    resumed_from_step: int | None
    train_seconds: float
    trainable_parameters: int
    tokens: int  # tokens seen in this attempt


def load_classifier(folder: str | Path, *, classes: list[str] | None = None):
    """The checkpoint in `folder` as an AutoModelForSequenceClassification in float32 (whatever precision it was
    saved in: `precision` decides autocast) and its tokenizer. With `classes`, the task head is new: initialised
    from the torch RNG as transformers initialises one, even when the checkpoint brings a head of the same
    size (another task's). Without, the checkpoint's own head (a fine-tuned version). Never runs code from the
    folder: safetensors only, no remote code, no download."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected here
    extra = {}
    if classes is not None:
        extra = {
            "num_labels": len(classes),
            "id2label": dict(enumerate(classes)),
            "label2id": {c: i for i, c in enumerate(classes)},
        }
    model = AutoModelForSequenceClassification.from_pretrained(
        str(folder),
        local_files_only=True,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=torch.float32,
        ignore_mismatched_sizes=classes is not None,
        **extra,
    )
    if classes is not None:  # a fresh head: whatever head the checkpoint brought was another task's
        _fresh_head(model)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    return model, tokenizer


def _lora_config(lora: dict):
    """peft's LoraConfig for sequence classification from checked settings (`check_settings`' lora)."""
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
    )


def merge_adapter(base: str | Path, adapter: str | Path, out: str | Path, lora: dict) -> None:
    """Write into `out` the checkpoint a LoRA adapter makes of its base, merged (config.json, model.safetensors,
    the tokenizer): `base` holds the base checkpoint's files, `adapter` the adapter version's (its config.json
    with the task's labels, ADAPTER_WEIGHTS, the tokenizer). The LoRA settings come from `lora` (the version's
    spec), not from the stored adapter_config.json. Raises ValueError (or transformers' and peft's errors) when
    the adapter does not fit the base."""
    import shutil
    import tempfile

    import torch
    from peft import PeftModel

    base, adapter = Path(base), Path(adapter)
    with tempfile.TemporaryDirectory(dir=Path(out).parent) as combined:
        # the base's weights under the fine-tuned config (its head's size and labels) and tokenizer
        for entry in base.iterdir():
            if entry.name != "config.json":
                (Path(combined) / entry.name).symlink_to(entry.resolve())
        for entry in adapter.iterdir():
            if entry.is_file() and entry.name not in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
                target = Path(combined) / entry.name
                target.unlink(missing_ok=True)
                shutil.copyfile(entry, target)
        labels = json.loads((adapter / "config.json").read_text(encoding="utf-8")).get("id2label") or {}
        classes = [labels[k] for k in sorted(labels, key=int)] if labels else None
        # a fresh head of the fine-tune's size (the adapter's weights bring the trained one): the base may have
        # a head of its own of another size (an imported classifier, another fine-tune). The fresh head and
        # LoRA matrices draw their (overwritten) start from a forked RNG: the caller's (a resumed run's) is untouched.
        with torch.random.fork_rng(devices=[]):
            model, tokenizer = load_classifier(combined, classes=classes)
            merged = PeftModel.from_pretrained(model, str(adapter), config=_lora_config(lora)).merge_and_unload()
    merged.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def _fresh_head(model) -> None:
    """Initialise every module outside the backbone as BERT initialises its layers (Linear: normal with the
    config's initializer_range, zero bias; LayerNorm: one and zero), from the torch RNG. torch.nn.init directly:
    transformers' own initialisers skip weights that were loaded."""
    import torch

    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        for name, child in model.named_children():
            if name == model.base_model_prefix:
                continue
            for module in child.modules():
                if isinstance(module, torch.nn.Linear):
                    torch.nn.init.normal_(module.weight, std=std)
                    if module.bias is not None:
                        torch.nn.init.zeros_(module.bias)
                elif isinstance(module, torch.nn.LayerNorm):
                    torch.nn.init.ones_(module.weight)
                    torch.nn.init.zeros_(module.bias)


def encode(tokenizer, texts, max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to `max_length` (special tokens included)."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def logits_of(model, tokenizer, texts, *, max_length: int, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """(N, K) float32 logits of the texts, in order; rows are sorted by length inside so batches pad little."""
    rows = encode(tokenizer, texts, max_length)
    order = np.argsort([len(r) for r in rows], kind="stable")
    out = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            index = order[start : start + batch_size]
            ids, mask = _pad([rows[i] for i in index], tokenizer.pad_token_id or 0)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            out[index] = logits.float().cpu().numpy()
    return out


def _memory_mb(device: str) -> float:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _optimizer(model, hyper: dict):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": hyper["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hyper["lr"],
    )


def _trainable_state(model) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in names}


def finetune(
    folder: str | Path,
    train_texts,
    train_targets: np.ndarray,
    validation_texts,
    validation_targets: np.ndarray,
    *,
    classes: list[str],
    method: str,
    hyperparameters: dict,
    lora: dict | None,
    max_length: int,
    reporter: Reporter,
    device: str | None = None,
    precision: str = "auto",
    step_delay_s: float = 0.0,
    rank: int = 0,
    world_size: int = 1,
    adapter_out: str | Path | None = None,
) -> FineTuneOutcome:
    """Fine-tune the checkpoint in `folder` on texts with int class indices in [0, len(classes)); resumes from
    the reporter's checkpoint when there is one. Logs per optimizer step `loss`, `lr`, `tokens_per_s` and
    `memory_mb` (peak device memory on a GPU, the process's resident memory on the CPU), and per epoch
    `train_loss` and the validation metrics as `val_*`. Raises Stopped when the reporter asks, TrainingError
    when the loss stops being finite. `step_delay_s` (tests only) is slept after each logged step.

    With `world_size` > 1 this is rank `rank` of a process group (ml/distributed.py): the network is wrapped in
    DistributedDataParallel, each micro-batch of batch_size x world_size rows is split among the ranks, and the
    loss is scaled so that the averaged gradient is the whole micro-batch's: N processes give the weights one
    process gives with batch_size x N (without dropout, which draws other masks). `batch_size` is per process.

    With `adapter_out` and method lora, rank 0 also saves the adapter there (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
    before merging it: what `merge_adapter` puts back on the base."""
    hyper, lora = check_settings(method, hyperparameters, lora, precision)
    device = pick_device(device)
    torch.manual_seed(hyper["seed"])  # the new head's (and the adapters') initial weights
    model, tokenizer = load_classifier(folder, classes=classes)
    if method == "lora":
        from peft import get_peft_model

        config = _lora_config(lora)
        names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        linear = sorted({n.rsplit(".", 1)[-1] for n in names})
        targets = lora["target_modules"] or []
        if unknown := [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]:
            raise FineTuneError(
                f"no linear layer named {', '.join(unknown)} in a {type(model).__name__}; its linear layers: "
                f"{', '.join(linear)}",
                field="lora.target_modules",
            )
        model = get_peft_model(model, config)
    model.to(device)
    net = model  # the module itself: checkpoints, validation and the result use it, never the DDP wrapper
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = _optimizer(model, hyper)
    rows = encode(tokenizer, train_texts, max_length)
    targets = torch.as_tensor(np.asarray(train_targets), dtype=torch.long)
    n, batch_size, accumulation = len(rows), hyper["batch_size"], hyper["gradient_accumulation"]
    global_batch = batch_size * world_size  # rows of one micro-batch over all ranks
    batches_per_epoch = math.ceil(n / global_batch)
    steps_per_epoch = math.ceil(batches_per_epoch / accumulation)
    total_steps = steps_per_epoch * hyper["epochs"]
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, round(hyper["warmup_ratio"] * total_steps), total_steps)

    start_epoch, step, resumed, train_seconds, partial = 0, 0, None, 0.0, None
    checkpoint = reporter.load_checkpoint()
    if checkpoint is not None:
        tensors, meta = checkpoint
        _restore(net, optimizer, tensors, meta, device, strict=False)
        scheduler.load_state_dict(meta["scheduler"])
        step, resumed, train_seconds = meta["step"], meta["step"], float(meta.get("train_seconds", 0.0))
        partial = meta.get("partial")
        start_epoch = meta["epoch"] if partial is not None else meta["epoch"] + 1
        reporter.log(f"resumed from the checkpoint at step {step} (epoch {meta['epoch'] + 1})")

    autocast = torch.device(device).type == "cuda" and precision == "auto" or precision == "bf16"
    pad_id = tokenizer.pad_token_id or 0
    tokens_total = 0
    distributed = world_size > 1
    if distributed:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        cuda = torch.device(device).type == "cuda"
        model = DistributedDataParallel(model, device_ids=[torch.device(device).index or 0] if cuda else None)

    def total(*values: float) -> list[float]:
        """The values summed over the ranks (as they are with one process)."""
        if not distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
        dist.all_reduce(tensor)
        return tensor.tolist()

    def save(epoch: int, done: dict | None) -> None:
        tensors, meta = _checkpoint(
            net,
            optimizer,
            epoch,
            step,
            train_seconds + time.perf_counter() - started,
            done,
            state=_trainable_state(net),
        )
        reporter.save_checkpoint(tensors, {**meta, "scheduler": scheduler.state_dict()})

    for epoch in range(start_epoch, hyper["epochs"]):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(hyper["seed"] * 100_003 + epoch)).tolist()
        started, seen, tokens, epoch_loss, first = time.perf_counter(), 0, 0, 0.0, 0
        if partial is not None and epoch == start_epoch:
            first, seen, epoch_loss = partial["batch"], partial["seen"], partial["epoch_loss"]
        for group_start in range(first, batches_per_epoch, accumulation):
            if reporter.should_stop():
                if getattr(reporter, "checkpoint_on_stop", lambda: False)():
                    with _together(reporter):
                        reporter.log(f"on-demand checkpoint at step {step}")
                        save(epoch, {"batch": group_start, "seen": seen, "epoch_loss": epoch_loss})
                raise Stopped(f"stopped at step {step}")
            # dropout's masks come from (seed, step, rank) alone: a resumed run, on any number of processes,
            # draws exactly what an uninterrupted one draws
            torch.manual_seed((hyper["seed"] * 1_000_003 + step * 1_009 + rank) % 2**63)
            group = range(group_start, min(group_start + accumulation, batches_per_epoch))
            group_rows = sum(min(n, (b + 1) * global_batch) - b * global_batch for b in group)
            step_loss, step_tokens = 0.0, 0
            for b in group:
                # this rank's share of the micro-batch (all of it with one process)
                start = b * global_batch + rank * batch_size
                index = order[start : min(start + batch_size, (b + 1) * global_batch)]
                # the epoch's last micro-batch may leave nothing for this rank: it still runs a forward and
                # backward pass through DDP (on one row, weighted 0) to take part in the gradients' all-reduce
                weight = 1.0 if index else 0.0
                index = index or order[b * global_batch : b * global_batch + 1]
                last = b == group[-1]
                quiet = model.no_sync() if distributed and not last else contextlib.nullcontext()
                with quiet:
                    ids, mask = _pad([rows[i] for i in index], pad_id)
                    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
                        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                    loss = weight * torch.nn.functional.cross_entropy(
                        logits.float(), targets[index].to(device), reduction="sum"
                    )
                    step_tokens += int(mask.sum()) if weight else 0
                    # DDP averages the ranks' gradients: times world_size makes it the micro-batch's sum
                    (loss * world_size / group_rows).backward()
                step_loss += loss.item()
            step_loss, step_tokens = total(step_loss, step_tokens)
            tokens += int(step_tokens)
            if not math.isfinite(step_loss):
                raise TrainingError(
                    f"the loss became {step_loss} at step {step + 1}; lower the learning rate (now {hyper['lr']:g})"
                )
            if hyper["max_grad_norm"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hyper["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += group_rows
            epoch_loss += step_loss
            if step % hyper["log_every"] == 0:
                elapsed = max(time.perf_counter() - started, 1e-9)
                reporter.log_metrics(
                    step,
                    {
                        "loss": step_loss / group_rows,
                        "lr": scheduler.get_last_lr()[0],
                        "tokens_per_s": tokens / elapsed,
                        "memory_mb": _memory_mb(device),
                    },
                )
                if step_delay_s > 0:
                    time.sleep(step_delay_s)
            reporter.set_progress(min(1.0, step / total_steps))
            if hyper["checkpoint_every"] and step % hyper["checkpoint_every"] == 0 and group.stop < batches_per_epoch:
                with _together(reporter):
                    reporter.log(f"checkpoint at step {step}")
                    save(epoch, {"batch": group.stop, "seen": seen, "epoch_loss": epoch_loss})
        epoch_seconds = time.perf_counter() - started
        tokens_total += tokens
        summary = {"epoch": epoch + 1, "train_loss": epoch_loss / max(seen, 1)}
        if len(validation_texts) and rank == 0:  # the other ranks report nothing
            scores = classification_metrics(
                np.asarray(validation_targets),
                softmax(logits_of(net, tokenizer, validation_texts, max_length=max_length, device=device)),
                classes,
            )
            summary.update({f"val_{k}": v for k, v in scores.items() if isinstance(v, float)})
            net.train()
        line = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
        with _together(reporter):
            reporter.log_metrics(step, summary)
            reporter.log(f"{line} ({epoch_seconds:.2f} s, {tokens / max(epoch_seconds, 1e-9):.0f} tokens/s)")
            save(epoch, None)
        train_seconds += epoch_seconds
        partial = None
    reporter.set_progress(1.0)
    model = net
    if method == "lora":
        if adapter_out is not None and rank == 0:
            net.save_pretrained(str(adapter_out))
        model = model.merge_and_unload()  # plain weights: export, quantization and serving need no peft
    model = model.cpu().eval()
    return FineTuneOutcome(
        model=model,
        tokenizer=tokenizer,
        steps=step,
        epochs_run=hyper["epochs"] - start_epoch,
        resumed_from_step=resumed,
        train_seconds=train_seconds,
        trainable_parameters=trainable,
        tokens=tokens_total,
    )


def distributed_entry(*, rank: int, world_size: int, reporter, out: str, device: str, **kwargs) -> dict | None:
    """One rank of a fine-tune over several processes (`ml.distributed.launch` calls it in each): rank r takes
    `cuda:r` when `device` is cuda, else the CPU. Rank 0 saves the result (LoRA merged) and the tokenizer into
    `out` and returns the outcome's figures; the other ranks return None."""
    if device.startswith("cuda"):
        device = f"cuda:{rank}"
    outcome = finetune(**kwargs, reporter=reporter, device=device, rank=rank, world_size=world_size)
    if rank != 0:
        return None
    outcome.model.save_pretrained(out)
    outcome.tokenizer.save_pretrained(out)
    return {
        "steps": outcome.steps,
        "epochs_run": outcome.epochs_run,
        "resumed_from_step": outcome.resumed_from_step,
        "train_seconds": outcome.train_seconds,
        "trainable_parameters": outcome.trainable_parameters,
        "tokens": outcome.tokens,
    }


def finetune_processes(
    world_size: int,
    *,
    reporter: Reporter,
    out: str | Path,
    device: str = "cpu",
    tmp_dir: str | None = None,
    **kwargs,
) -> FineTuneOutcome:
    """`finetune` in `world_size` processes with DistributedDataParallel (gloo on the CPU, NCCL on GPUs, one per
    process); `kwargs` are finetune's, `batch_size` per process. The result is read back from `out`, where rank
    0 saved it. Raises what `ml.distributed.launch` raises (RankFailed when a process dies)."""
    from ml import distributed

    backend = "nccl" if device.startswith("cuda") else "gloo"
    figures = distributed.launch(
        distributed_entry,
        world_size,
        reporter=reporter,
        kwargs={**kwargs, "out": str(out), "device": device},
        backend=backend,
        tmp_dir=tmp_dir,
    )
    model, tokenizer = load_classifier(out)
    return FineTuneOutcome(model=model.eval(), tokenizer=tokenizer, **figures)
