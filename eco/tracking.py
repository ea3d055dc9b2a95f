"""Tracking runs from your own training scripts: `eco.start_run` opens a run (a `tracking` job in the registry,
with lineage), and the run logs metrics, parameters, files and models while your loop runs.

    import eco
    with eco.start_run(team="vision", model="digits-cnn", dataset_version=dv_id, params={"lr": 1e-3}) as run:
        for step in range(steps):
            ...
            run.log_metrics({"loss": loss, "accuracy": acc}, step=step)
        run.log_artifact("confusion.png")
        run.log_model(net, example_input=x[:4], spec={...})   # exported to ONNX here, parity checked

How points travel. `log_metrics` only appends to an in-memory queue (a few microseconds; it never blocks on
the network). A background thread takes the queue every `flush_interval_s`, cuts it into batches of at most
`max_batch` points, writes each batch to the run's spool folder (an append-only file of events) and sends it.
Every point carries the client's timestamp. The run's id and every batch's id are chosen here, and the server
treats a repeated id as done, so a batch sent again after a lost answer is never stored twice. When the
server cannot be reached (at `start_run` too), events stay in the spool and are sent, in order, when it
answers again; a script that ends while the server is down leaves its spool behind, and `eco sync DIR`
sends it later. At the end (`with` block, `finish()`, or interpreter exit) everything is flushed.

Settings come from the arguments, else ECO_URL and ECO_TOKEN, else the profile `eco login` saved
(`profile=` or ECO_PROFILE). Spool folders live in ECO_SPOOL_DIR, else $XDG_DATA_HOME/eco/runs
(~/.local/share/eco/runs). This module needs only httpx (no Django, Celery or torch).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

import httpx

from eco.client import Client, EcoError

__all__ = ["Run", "start_run", "sync", "spool_root", "environment"]

try:  # orjson when installed (the server has it): encoding is the client's main cost per point
    import orjson

    def _dumps(value) -> bytes:
        return orjson.dumps(value)

except ImportError:  # the light client without it

    def _dumps(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


# A status the server gives while it cannot answer now: the event waits and is sent again.
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
MAIN_PACKAGES = (
    "torch",
    "numpy",
    "scikit-learn",
    "pandas",
    "transformers",
    "peft",
    "lightning",
    "tensorflow",
    "jax",
    "onnx",
    "onnxruntime",
    "eco",
)


def spool_root() -> Path:
    """ECO_SPOOL_DIR, else $XDG_DATA_HOME/eco/runs (~/.local/share/eco/runs)."""
    if os.environ.get("ECO_SPOOL_DIR"):
        return Path(os.environ["ECO_SPOOL_DIR"])
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "eco" / "runs"


def _credentials(url: str | None, token: str | None, profile: str | None) -> tuple[str, str]:
    """The server's URL and an API token: the arguments, else ECO_URL / ECO_TOKEN, else the saved profile."""
    from eco import cli  # the CLI owns the config file's format

    saved = cli._profiles().get(profile or os.environ.get("ECO_PROFILE") or "default", {})
    url = url or os.environ.get("ECO_URL") or saved.get("url")
    token = token or os.environ.get("ECO_TOKEN") or saved.get("token")
    if not url or not token:
        raise EcoError(
            401, {"detail": "no server or token: pass url= and token=, set ECO_URL and ECO_TOKEN, or run `eco login`"}
        )
    return url, token


# --- where the run ran ------------------------------------------------------------------------------


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _without_credentials(remote: str | None) -> str | None:
    """A remote URL without the user:password@ part a clone URL may carry."""
    if not remote or "://" not in remote or "@" not in remote.split("://", 1)[1].split("/", 1)[0]:
        return remote
    scheme, rest = remote.split("://", 1)
    return f"{scheme}://{rest.split('@', 1)[1]}"


def git_state(folder: str | Path | None = None) -> dict | None:
    """The git repository holding `folder` (default: the calling script's folder, else the working directory):
    `{commit, dirty, branch, remote}`, `dirty` true when tracked or untracked files differ from the commit; None
    outside a repository or without git. The remote URL is kept without credentials."""
    if folder is None:
        script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
        folder = Path(script).resolve().parent if script and Path(script).exists() else Path.cwd()
    folder = Path(folder)
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(folder, "status", "--porcelain")
    return {
        "commit": commit,
        "dirty": bool(status),
        "branch": _git(folder, "rev-parse", "--abbrev-ref", "HEAD"),
        "remote": _without_credentials(_git(folder, "config", "--get", "remote.origin.url")),
    }


def environment(folder: str | Path | None = None) -> dict:
    """Where the run runs: `{git, python, platform, host, command, packages: {name: version}}` for the packages
    of MAIN_PACKAGES that are installed (what MLflow and W&B record as a run's source and environment)."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in MAIN_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "git": git_state(folder),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv)[:1000],
        "packages": packages,
    }


# --- the spool: an append-only file of events and a count of those the server acknowledged ---------


class Spool:
    """A run's spool folder: `run.json` (server URL, run id, the start's body), `events.jsonl` (one event per
    line, in the order they happened), `acked` (how many events the server has acknowledged) and `files/`
    (copies of logged artifacts). A lock (flock on `lock`) keeps two processes from sending one spool."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.events_path = folder / "events.jsonl"
        self.acked_path = folder / "acked"
        self._lock_file = None

    @classmethod
    def create(cls, folder: Path, run: dict) -> Spool:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "files").mkdir(exist_ok=True)
        (folder / "run.json").write_text(json.dumps(run))
        spool = cls(folder)
        spool.events_path.touch()
        spool.acked_path.write_text("0")
        return spool

    def lock(self) -> bool:
        """Take the folder's lock without waiting; False when another process holds it."""
        self._lock_file = open(self.folder / "lock", "a")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            return False
        return True

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @property
    def run(self) -> dict:
        return json.loads((self.folder / "run.json").read_text())

    def append(self, events: list[dict]) -> None:
        """Append events, one JSON line each; a points event is written around its prepared request body."""
        lines = []
        for event in events:
            if "body_bytes" in event:
                lines.append(b'{"type":"points","body":' + event["body_bytes"] + b"}\n")
            else:
                lines.append(_dumps(event) + b"\n")
        with open(self.events_path, "ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()

    def acked(self) -> int:
        try:
            return int(self.acked_path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def set_acked(self, count: int) -> None:
        tmp = self.acked_path.with_suffix(".tmp")
        tmp.write_text(str(count))
        os.replace(tmp, self.acked_path)  # atomic: a crash leaves the old count or the new one

    def pending(self) -> list[dict]:
        """The events not yet acknowledged, in order (a torn last line from a crash is skipped)."""
        events = []
        with open(self.events_path) as fh:
            for line in fh:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    break
        return events[self.acked() :]

    def remove(self) -> None:
        self.release()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- sending events -------------------------------------------------------------------------------


class Transient(Exception):
    """The server could not be reached or asked to try again later: the event waits in the spool."""


def send_event(http: httpx.Client, run_id: str, event: dict, folder: Path) -> None:
    """Send one spooled event. Raises Transient when it must be sent again later, EcoError for an answer that
    will not change (a bad point, a refused parameter); a run already ended counts as done for `finish`."""
    kind = event["type"]
    try:
        if kind == "start":
            response = http.post("jobs/", json=event["body"])
        elif kind == "points":
            body = event.get("body_bytes") or _dumps(event["body"])
            response = http.post(f"jobs/{run_id}/metrics/", content=body, headers={"Content-Type": "application/json"})
            if _asks_for_points(response) and "series" in event["body"]:  # a server older than the series form
                response = http.post(f"jobs/{run_id}/metrics/", json=_as_points(event["body"]))
        elif kind == "params":
            response = http.post(f"jobs/{run_id}/params/", json={"params": event["params"]})
        elif kind == "artifact":
            with open(folder / "files" / event["file"], "rb") as fh:
                response = http.post(
                    f"jobs/{run_id}/artifacts/", data={"path": event["path"]}, files={"file": (event["path"], fh)}
                )
        elif kind == "finish":
            response = http.post(f"jobs/{run_id}/finish/", json={"status": event["status"], "error": event["error"]})
            if response.status_code == 409:  # it has already ended (sent before, or cancelled): nothing to do
                return
        else:
            raise EcoError(400, {"detail": f"unknown spooled event {kind!r}"})
    except (httpx.TransportError, OSError) as exc:
        raise Transient(str(exc) or type(exc).__name__) from exc
    if response.status_code in TRANSIENT:
        raise Transient(f"HTTP {response.status_code}")
    Client._answer(response)


class _Sender(threading.Thread):
    """Takes the run's queued points and events, spools them, and sends them in order."""

    def __init__(self, run: Run):
        super().__init__(name=f"eco-run-{run.id[:8]}", daemon=True)
        self.owner = run
        self.wake = threading.Event()
        self.stopping = False
        self.abandoned = False  # finish() gave up waiting: what is left stays in the spool for `eco sync`
        self.outbox: collections.deque[dict] = collections.deque(run._spool.pending())
        self.sent = run._spool.acked()
        self.online = True
        self.retry_at = 0.0
        self.backoff = 0.5
        self.idle = threading.Event()

    def drain(self) -> None:
        """Move queued points into batches and queued events behind them, spooled in that order."""
        run = self.owner
        events, points = [], []
        try:
            while True:
                step, at, values = run._points.popleft()
                for key, value in values.items():
                    number = _number(value)
                    if number is None:
                        run._refuse(key, value, step)
                        continue
                    points.append((key, step, number, at))
                if len(points) >= run.max_batch:
                    events.append(_points_event(points))
                    points = []
        except IndexError:
            pass
        if points:
            events.append(_points_event(points))
        while True:
            try:
                events.append(run._events.popleft())
            except IndexError:
                break
        if events:
            run._spool.append(events)
            self.outbox.extend(events)

    def send_all(self) -> None:
        while self.outbox:
            if time.monotonic() < self.retry_at:
                return
            event = self.outbox[0]
            try:
                send_event(self.owner._http, self.owner.id, event, self.owner._spool.folder)
            except Transient as exc:
                if self.online:
                    _warn(
                        f"run {self.owner.id}: the server is unreachable ({exc}); "
                        f"logging goes on into {self.owner._spool.folder}"
                    )
                self.online = False
                self.retry_at = time.monotonic() + self.backoff
                self.backoff = min(self.backoff * 2, 10.0)
                return
            except EcoError as exc:
                if event["type"] == "start":
                    raise
                _warn(f"run {self.owner.id}: the server refused {event['type']} ({exc}); it is dropped")
            if not self.online:
                _warn(f"run {self.owner.id}: the server answers again; sending what was spooled")
            self.online, self.backoff = True, 0.5
            self.outbox.popleft()
            self.sent += 1
            self.owner._spool.set_acked(self.sent)

    def run(self) -> None:  # noqa: D102 (threading.Thread's)
        while True:
            self.wake.wait(self.owner.flush_interval_s if not self.stopping else 0.05)
            self.wake.clear()
            if self.abandoned:
                return
            try:
                self.drain()
                self.send_all()
            except EcoError as exc:  # the start itself was refused: nothing of this run can be sent
                self.owner._fatal = exc
                folder = self.owner._spool.folder
                _warn(f"run {self.owner.id}: the server refused the run ({exc}); events stay in {folder}")
                self.outbox.clear()
                self.idle.set()
                return
            except Exception:  # never let the thread die silently: the loop keeps the points
                _warn("the tracking thread hit an error:\n" + traceback.format_exc())
            if not self.outbox and not self.owner._points and not self.owner._events:
                self.idle.set()
                if self.stopping:
                    return
            else:
                self.idle.clear()


def _number(value) -> float | None:
    """A metric value as a finite float: Python and NumPy numbers, one-element tensors and arrays (item() also
    detaches a tensor from autograd); None for NaN, infinities and what is not a number."""
    if type(value) is not float:
        try:
            value = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError, RuntimeError):
            return None
    return value if math.isfinite(value) else None


def _points_event(points: list[tuple]) -> dict:
    """A batch of (key, step, value, time) points with its own id, its request body encoded once (for the spool
    and the send). The body holds the points as columns, one series per key (`series`), which the server
    parses and checks in a fraction of the time one object per point takes."""
    series: dict[str, dict] = {}
    for key, step, value, at in points:
        one = series.get(key)
        if one is None:
            one = series[key] = {"key": key, "steps": [], "values": [], "times": []}
        one["steps"].append(step)
        one["values"].append(value)
        one["times"].append(at)
    body = {"batch_id": uuid.uuid4().hex, "series": list(series.values())}
    return {"type": "points", "body": body, "body_bytes": _dumps(body)}


def _asks_for_points(response: httpx.Response) -> bool:
    """A 400 that names `points` as missing: a server from before the series form of a batch."""
    if response.status_code != 400:
        return False
    try:
        answer = response.json()
    except ValueError:
        return False
    errors = answer.get("errors", answer) if isinstance(answer, dict) else None
    return isinstance(errors, dict) and "required" in str(errors.get("points", ""))


def _as_points(body: dict) -> dict:
    """A series body as the same batch (same batch id) with one object per point."""
    points = [
        {"key": one["key"], "step": step, "value": value, "time": at}
        for one in body["series"]
        for step, value, at in zip(one["steps"], one["values"], one["times"], strict=True)
    ]
    return {"batch_id": body["batch_id"], "points": points}


def _warn(message: str) -> None:
    print(f"eco: {message}", file=sys.stderr, flush=True)


# --- the run ------------------------------------------------------------------------------------------

_ACTIVE: list[Run] = []


class Run:
    """An open tracking run; see the module's docstring. Use it as a context manager, or call `finish()`.

    Attributes: `id` (the job's id, a uuid string chosen here), `url` (the server), `spool_dir` (its spool).
    """

    def __init__(
        self,
        *,
        http: httpx.Client,
        url: str,
        run_id: str,
        start_body: dict,
        spool_dir: Path,
        flush_interval_s: float,
        max_batch: int,
        flush_timeout_s: float,
        client: Client,
        team: str,
        model: str | None = None,
    ):
        self.id, self.url, self.spool_dir, self.team, self.model = run_id, url, spool_dir, team, model
        self.flush_interval_s, self.max_batch, self.flush_timeout_s = flush_interval_s, max_batch, flush_timeout_s
        self._http, self._client = http, client
        self._points: collections.deque = collections.deque()
        self._events: collections.deque = collections.deque()
        self._auto_step = 0
        self._refused_keys: set[str] = set()
        self._files = 0
        self._fatal: EcoError | None = None
        self._sampler = None
        self.status: str | None = None
        self._spool = Spool.create(spool_dir, {"id": run_id, "url": url, "start": start_body})
        if not self._spool.lock():  # a fresh folder: nobody else can hold it
            raise RuntimeError(f"spool {spool_dir} is locked by another process")
        self._spool.append([{"type": "start", "body": start_body}])
        self._sender = _Sender(self)

    # -- logging --------------------------------------------------------------------------------------

    def log_metric(self, key: str, value, step: int | None = None, *, timestamp: float | None = None) -> None:
        """Log one value; see log_metrics."""
        self.log_metrics({key: value}, step=step, timestamp=timestamp)

    def log_metrics(self, metrics: dict, step: int | None = None, *, timestamp: float | None = None) -> None:
        """Queue `{key: number}` at `step` (an int >= 0; default: one more than the last step this run logged
        without one, from 0) with `timestamp` (seconds since the epoch; default now). Values may be Python or
        NumPy numbers or one-element tensors. A NaN or infinite value is skipped with one warning per key (the
        server stores finite numbers only). Never blocks on the network: the call copies the dict onto a queue
        (about a microsecond); the background thread turns it into points."""
        if step is None:
            step = self._auto_step
            self._auto_step += 1
        elif type(step) is not int or step < 0:  # noqa: E721 (a bool is not a step)
            step = int(step)
            if step < 0:
                raise ValueError(f"step must be an integer >= 0, not {step}")
        self._points.append((step, time.time() if timestamp is None else float(timestamp), metrics.copy()))

    def _refuse(self, key: str, value, step: int) -> None:
        if key not in self._refused_keys:
            self._refused_keys.add(key)
            _warn(f"metric {key!r} got {value!r} at step {step}; only finite numbers are stored (skipped)")

    def log_params(self, params: dict) -> None:
        """Add parameters to the run (`{name: JSON value}`); a parameter keeps its first value (the server
        refuses a change and the client warns)."""
        self._event({"type": "params", "params": json.loads(json.dumps(params, default=str))})

    def log_artifact(self, path: str | Path, name: str | None = None) -> None:
        """Copy a file into the spool now (later edits do not change what is sent) and send it as the run's
        artifact `name` (default: the file's name; a relative path such as plots/loss.png)."""
        path = Path(path)
        stored = self._spool_file()
        shutil.copyfile(path, self._spool.folder / "files" / stored)
        self._event({"type": "artifact", "path": name or path.name, "file": stored})

    def log_text(self, text: str, name: str) -> None:
        """Store `text` as the run's artifact `name` (notes.md, say), UTF-8."""
        stored = self._spool_file()
        (self._spool.folder / "files" / stored).write_text(text, encoding="utf-8")
        self._event({"type": "artifact", "path": name, "file": stored})

    def _spool_file(self) -> str:
        """The name of the next file copied into the spool's files/ folder."""
        self._files += 1
        return f"{self._files:06d}"

    def log_model(self, artifact, **kwargs) -> dict:
        """Register a model version made by this run (its lineage names the run): `artifact` is an ONNX or
        safetensors file, or a torch module exported to ONNX here with a parity check. Waits until everything
        logged so far has reached the server (the version's lineage needs the run there); the keyword
        arguments are those of `eco.byo.log_model` (spec, example_input, ...); `model` defaults to the run's.
        Returns the version."""
        from eco import byo

        self.flush()
        if self._sender.outbox:
            raise EcoError(
                503, {"detail": f"the server is unreachable: the model cannot be registered now (run {self.id})"}
            )
        kwargs.setdefault("team", self.team)
        if self.model:
            kwargs.setdefault("model", self.model)
        return byo.log_model(self._client, run=self.id, artifact=artifact, **kwargs)

    def _event(self, event: dict) -> None:
        self._events.append(event)
        self._sender.wake.set()

    # -- the end ---------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is acknowledged (True) or `timeout` seconds pass (False)."""
        self._sender.idle.clear()
        self._sender.wake.set()
        return self._sender.idle.wait(self.flush_timeout_s if timeout is None else timeout)

    def finish(self, status: str = "succeeded", error: str = "") -> None:
        """End the run (`succeeded` or `failed` with a one-line error) and send what is left, waiting at most
        `flush_timeout_s`. What could not be sent stays in the spool, and a line says how to send it."""
        if self.status is not None:
            return
        self.status = status
        if self._sampler is not None:
            self._sampler.stop()
        self._event({"type": "finish", "status": status, "error": error[:10_000]})
        self._sender.stopping = True
        done = self.flush()
        self._sender.abandoned = not done
        self._sender.wake.set()
        self._sender.join(timeout=60)  # at most one request in flight (30 s read timeout) to wait for
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if done and not self._sender.outbox and self._fatal is None:
            self._spool.remove()
        else:
            left = len(self._sender.outbox) + len(self._points) + len(self._events)
            _warn(
                f"run {self.id}: {left} events were not sent; they are kept in {self.spool_dir}. "
                f"Send them when the server is back: eco sync {self.spool_dir}"
            )
            self._spool.release()
        self._http.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish("succeeded")
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")


def start_run(
    *,
    team: str,
    model: str | None = None,
    dataset_version: str | None = None,
    params: dict | None = None,
    description: str | None = None,
    url: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    run_id: str | None = None,
    spool_dir: str | Path | None = None,
    system_metrics: bool = False,
    system_metrics_interval_s: float = 10.0,
    log_environment: bool = True,
    flush_interval_s: float = 1.0,
    max_batch: int = 1000,
    flush_timeout_s: float = 120.0,
) -> Run:
    """Open a tracking run in `team` for `model` (an id or a name; a new name is kept for the version the run
    may register) on `dataset_version` (its lineage), with `params`.

    The start is sent at once; when the server cannot be reached the run goes on offline (its events spool
    and are sent when the server answers). `system_metrics` samples CPU, memory and, when NVIDIA's NVML is
    present, GPU utilisation and memory every `system_metrics_interval_s` seconds as `system/...` metrics.
    `log_environment` records the git commit and dirty state of the script's repository and the versions of
    the main packages. Returns the Run.

    Raises:
        EcoError: the server refused the run (a bad team, model or dataset version: 400/403/404), or no URL
            or token is configured (401).
    """
    url, token = _credentials(url, token, profile)
    run_id = str(uuid.UUID(run_id)) if run_id else str(uuid.uuid4())
    spec = {"model": model, "dataset_version": dataset_version, "params": params, "description": description}
    spec = {k: v for k, v in spec.items() if v is not None}
    if log_environment:
        spec["environment"] = environment()
    body = {"id": run_id, "team": team, "kind": "tracking", "spec": spec}
    client = Client(url, token)
    http = httpx.Client(
        base_url=client.http.base_url,
        headers=dict(client.http.headers),
        timeout=httpx.Timeout(30.0, connect=5.0),
    )
    folder = Path(spool_dir) if spool_dir else spool_root() / run_id
    run = Run(
        http=http,
        url=url,
        run_id=run_id,
        start_body=body,
        spool_dir=folder,
        flush_interval_s=flush_interval_s,
        max_batch=max_batch,
        flush_timeout_s=flush_timeout_s,
        client=client,
        team=team,
        model=model,
    )
    try:  # the start goes now, so that a refused run fails here and not later in a thread
        send_event(http, run_id, {"type": "start", "body": body}, folder)
        run._spool.set_acked(1)
        run._sender.outbox.clear()
        run._sender.sent = 1
    except Transient as exc:
        _warn(
            f"run {run_id}: the server is unreachable ({exc}); the run is spooled in {folder} and sent when it answers"
        )
        run._sender.online = False
    except EcoError:
        run._spool.remove()
        http.close()
        raise
    run._sender.start()
    _ACTIVE.append(run)
    if system_metrics:
        from eco.system_metrics import Sampler

        run._sampler = Sampler(lambda values, step: run.log_metrics(values, step=step), system_metrics_interval_s)
        run._sampler.start()
    return run


@atexit.register
def _finish_open_runs() -> None:
    """A script that never ended its run ends it here, as succeeded, after a last flush."""
    for run in list(_ACTIVE):
        with contextlib.suppress(Exception):
            run.finish("succeeded")


# --- eco sync -------------------------------------------------------------------------------------------


def sync(
    path: str | Path, *, url: str | None = None, token: str | None = None, profile: str | None = None
) -> list[dict]:
    """Send spooled runs: `path` is one run's spool folder or a folder of them (spool_root()). Each run's events
    go in order, from the first the server has not acknowledged; a run fully sent loses its folder. The server
    is the run's own (run.json) unless `url` says otherwise; the token comes from `token`, ECO_TOKEN or the
    saved profile. A folder another process is still sending is skipped. Returns per run
    `{run, sent, left, status}` with status `synced`, `offline` (the server did not answer; what is left
    stays), `busy` (locked) or `refused` (the server refused the run itself)."""
    path = Path(path)
    folders = [path] if (path / "run.json").exists() else sorted(p for p in path.iterdir() if (p / "run.json").exists())
    results = []
    for folder in folders:
        spool = Spool(folder)
        if not spool.lock():
            results.append({"run": folder.name, "sent": 0, "left": None, "status": "busy"})
            continue
        run = spool.run
        server, key = _credentials(url or run["url"], token, profile)
        http = httpx.Client(
            base_url=f"{server.rstrip('/')}/api/v1/",
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(60.0, connect=5.0),
        )
        pending, acked, sent, status = spool.pending(), spool.acked(), 0, "synced"
        try:
            for event in pending:
                try:
                    send_event(http, run["id"], event, folder)
                except Transient:
                    status = "offline"
                    break
                except EcoError as exc:
                    if event["type"] == "start":
                        status = f"refused: {exc}"
                        break
                    _warn(f"run {run['id']}: the server refused {event['type']} ({exc}); it is dropped")
                sent += 1
                spool.set_acked(acked + sent)
        finally:
            http.close()
        left = len(pending) - sent
        results.append({"run": run["id"], "sent": sent, "left": left, "status": status})
        if status == "synced":
            spool.remove()
        else:
            spool.release()
    return results
