"""Several training processes on one machine with DistributedDataParallel: N processes with the gloo backend on
the CPU (`resources.processes`), or one per GPU with NCCL (`resources.gpus`). Django-free.

`launch(entry, world_size, reporter=..., kwargs=...)` starts `world_size` fresh Python processes
(`python -m ml.distributed FOLDER RANK`: not multiprocessing, whose children a Celery worker's daemonic
process may not have, and no fork of a process that holds database connections and threads) that each call
`entry(rank=r, world_size=n, reporter=relay, **kwargs)` inside an initialised process group. `entry` is a
module-level function, named by module and name; `kwargs` travel as JSON (lists, numbers, strings: a NumPy
array becomes a list). The parent stays the job's only link to the registry: rank 0's relay appends what it
reports (metrics, log lines, progress, checkpoints written to files) to a JSON-lines file in the launch's
folder, and the parent hands each to the real reporter, in order. Every rank asks `should_stop` between steps;
the answer is the parent's (a file it writes), agreed by an all-reduce so that all ranks stop at the same step
(a rank that stopped alone would leave the others waiting in a collective). Each rank resumes from the same
checkpoint, which the parent writes to a file first; each ends itself when its parent is gone.

A rank that dies (killed, out of memory, an exception) ends the attempt: the parent stops the others and
raises RankFailed, which the worker treats as transient, so the job is retried and resumes from its last
checkpoint. Multi-node training (processes on several machines) is not done here: it needs a rendezvous
address every node reaches (torchrun's c10d), a launcher per node, and storage all of them share.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import traceback
from pathlib import Path


class RankFailed(ConnectionError):
    """A training process died or raised; the attempt ends and the job is retried from its last checkpoint
    (a ConnectionError: jobs_app.runners counts it among the transient errors)."""


MESSAGES = "messages.jsonl"
STOP, PREEMPT = "stop", "preempt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Relay:
    """The reporter each rank sees. Rank 0 appends what it reports to the launch's message file; the others
    report nothing. `should_stop` and `checkpoint_on_stop` are collective: every rank calls them at the same
    steps."""

    def __init__(self, rank: int, folder: Path, checkpoint: str | None):
        self.rank, self.folder, self.checkpoint, self.saved = rank, folder, checkpoint, 0
        self._out = open(folder / MESSAGES, "a", encoding="utf-8") if rank == 0 else None

    def _send(self, *message) -> None:
        if self._out is not None:
            self._out.write(json.dumps(message) + "\n")
            self._out.flush()

    def log_metrics(self, step, metrics) -> None:
        self._send("metrics", int(step), {k: float(v) for k, v in metrics.items()})

    def set_progress(self, fraction) -> None:
        self._send("progress", float(fraction))

    def log(self, message) -> None:
        self._send("log", str(message))

    def save_checkpoint(self, tensors, meta) -> None:
        if self.rank != 0:
            return
        self.saved += 1
        path = self.folder / f"checkpoint-{self.saved}.safetensors"
        write_checkpoint(path, tensors, meta)
        self._send("checkpoint", str(path))

    def load_checkpoint(self):
        return None if self.checkpoint is None else read_checkpoint(self.checkpoint)

    def should_stop(self) -> bool:
        import torch
        import torch.distributed as dist

        on_gpu = dist.get_backend() == "nccl"  # NCCL reduces GPU tensors only
        device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        flag = torch.tensor([1 if (self.folder / STOP).exists() else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def checkpoint_on_stop(self) -> bool:
        return (self.folder / PREEMPT).exists()

    @contextlib.contextmanager
    def together(self):
        self._send("begin")
        try:
            yield
        finally:
            self._send("end")


def write_checkpoint(path: str | Path, tensors, meta: dict) -> None:
    """A checkpoint as one safetensors file with `meta` as JSON metadata (no pickle)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"meta": json.dumps(meta)})


def read_checkpoint(path: str | Path):
    """(tensors, meta) of a checkpoint file written by `write_checkpoint`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as opened:
        meta = json.loads((opened.metadata() or {}).get("meta", "{}"))
    return load_file(str(path)), meta


def _watch_parent(parent: int) -> None:
    """End this rank when its parent is gone (a worker killed with SIGKILL cannot end its ranks; without this
    they would wait in a collective until gloo's timeout, half an hour)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="eco-parent-watch", daemon=True).start()


def _jsonable(value):
    if hasattr(value, "tolist"):  # a NumPy array or scalar
        return value.tolist()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _user_error(exc: BaseException):
    from ml.errors import UserError

    if not isinstance(exc, UserError):
        return None
    return type(exc).__module__, type(exc).__qualname__, exc.message, exc.field


def _rank_main(folder: Path, rank: int) -> int:
    """One rank: read the launch file, join the process group, run the entry; 0 when it ended well."""
    import importlib

    import torch
    import torch.distributed as dist

    from ml.train import Stopped

    launch_file = json.loads((folder / "launch.json").read_text())
    _watch_parent(launch_file["parent"])
    world_size = launch_file["world_size"]
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(launch_file["port"]), RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    if launch_file["backend"] == "nccl":
        torch.cuda.set_device(rank)
    relay = _Relay(rank, folder, launch_file["checkpoint"])
    module, name = launch_file["entry"].split(":")
    try:
        dist.init_process_group(launch_file["backend"], rank=rank, world_size=world_size)
        entry = getattr(importlib.import_module(module), name)
        result = entry(rank=rank, world_size=world_size, reporter=relay, **launch_file["kwargs"])
        relay._send("result", result)
        return 0
    except Stopped as exc:
        relay._send("stopped", str(exc))
        return 0
    except BaseException as exc:  # the parent reports it; the exit code says the rank failed
        error = ("error", rank, f"{type(exc).__name__}: {exc}", traceback.format_exc(), _user_error(exc))
        partial = folder / f"error-{rank}.json.partial"
        partial.write_text(json.dumps(error), encoding="utf-8")
        os.replace(partial, folder / f"error-{rank}.json")  # the parent never reads half a file
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(
    entry,
    world_size: int,
    *,
    reporter,
    kwargs: dict,
    backend: str = "gloo",
    poll_s: float = 0.1,
    tmp_dir: str | None = None,
):
    """Run `entry` (a module-level function) in `world_size` processes and return what rank 0's call returned
    (JSON). What rank 0 reports reaches `reporter` in order. Raises ml.train.Stopped when the reporter asked to
    stop and the ranks stopped, the UserError a rank raised (a bad setting is not worth a retry), and
    RankFailed when a rank died or raised anything else. The launch's files (checkpoints on their way to the
    reporter) go to a temporary folder in `tmp_dir` (default: the system's)."""
    import subprocess
    import sys
    import time

    from ml.train import Stopped

    with tempfile.TemporaryDirectory(prefix="eco-ddp-", dir=tmp_dir) as tmp:
        folder = Path(tmp)
        checkpoint = None
        found = reporter.load_checkpoint()
        if found is not None:
            checkpoint = str(folder / "resume.safetensors")
            write_checkpoint(checkpoint, *found)
        (folder / "launch.json").write_text(
            json.dumps(
                {
                    "entry": f"{entry.__module__}:{entry.__qualname__}",
                    "world_size": world_size,
                    "backend": backend,
                    "port": _free_port(),
                    "kwargs": _jsonable(kwargs),
                    "checkpoint": checkpoint,
                    "parent": os.getpid(),
                }
            )
        )
        (folder / MESSAGES).touch()
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        processes: list = []
        outcome, together, done = None, None, False
        try:
            for rank in range(world_size):
                processes.append(
                    subprocess.Popen([sys.executable, "-m", "ml.distributed", str(folder), str(rank)], env=env)
                )
            with open(folder / MESSAGES, encoding="utf-8") as inbox:
                pending = ""
                while not done:
                    if not (folder / STOP).exists() and reporter.should_stop():
                        if getattr(reporter, "checkpoint_on_stop", lambda: False)():
                            (folder / PREEMPT).touch()
                        (folder / STOP).touch()
                    ended = all(p.poll() == 0 for p in processes)  # before reading: their last lines are in
                    chunk = inbox.read()
                    if not chunk:
                        for rank in range(world_size):
                            if (folder / f"error-{rank}.json").exists():
                                _raise_error(folder, rank, processes, reporter)
                        if any(p.poll() not in (None, 0) for p in processes):
                            raise RankFailed(_died(processes))
                        if ended:
                            raise RankFailed("the training processes ended without a result")
                        time.sleep(poll_s)
                        continue
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        message = json.loads(line)
                        kind = message[0]
                        if kind == "metrics":
                            reporter.log_metrics(message[1], message[2])
                        elif kind == "progress":
                            reporter.set_progress(message[1])
                        elif kind == "log":
                            reporter.log(message[1])
                        elif kind == "begin":
                            together = getattr(reporter, "together", contextlib.nullcontext)()
                            together.__enter__()
                        elif kind == "end" and together is not None:
                            together.__exit__(None, None, None)
                            together = None
                        elif kind == "checkpoint":
                            reporter.save_checkpoint(*read_checkpoint(message[1]))
                            os.unlink(message[1])
                        elif kind == "result":
                            outcome, done = message[1], True
                        elif kind == "stopped":
                            raise Stopped(message[1])
        finally:
            if together is not None:
                together.__exit__(None, None, None)
            for process in processes:
                try:
                    process.wait(timeout=30 if done else 2)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        return outcome


def _raise_error(folder: Path, rank: int, processes, reporter) -> None:
    _, rank, text, trace, user = json.loads((folder / f"error-{rank}.json").read_text())
    reporter.log(f"training process {rank} failed:\n{trace}")
    if user is not None:
        raise _rebuilt(user)
    killed = _died(processes)  # a rank that died first makes the others' collectives fail: name that one
    if any(p.poll() not in (None, 0, 1) for p in processes):
        raise RankFailed(killed)
    raise RankFailed(f"training process {rank} failed: {text}")


def _died(processes, settle_s: float = 1.0) -> str:
    """Which ranks ended badly, the one killed first named first: a rank that dies makes the others fail in
    their next collective, and those exit with code 1 (their own error), so other codes (a signal, os._exit)
    come first. Waits up to `settle_s` for the others to end."""
    import time

    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(0.05)
    ended = [(rank, p.poll()) for rank, p in enumerate(processes) if p.poll() not in (None, 0)]
    ended.sort(key=lambda item: item[1] == 1)
    if not ended:
        return "no training process died"
    rank, code = ended[0]
    others = "".join(f"; process {r} exited with code {c}" for r, c in ended[1:])
    return f"training process {rank} died (exit code {code}){others}"


def _rebuilt(user):
    """The UserError a rank raised, rebuilt in the parent from (module, class name, message, field)."""
    import importlib

    module, name, message, field = user
    cls = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    try:
        return cls(message, field=field)
    except TypeError:  # a subclass with other arguments
        from ml.errors import UserError

        return UserError(message, field=field)


if __name__ == "__main__":
    import sys

    raise SystemExit(_rank_main(Path(sys.argv[1]), int(sys.argv[2])))
