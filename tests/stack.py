"""The live stack for tests that need real processes: a Celery worker (and, where a test needs one, the reaper)
against the same PostgreSQL test database and Redis broker the tests use, with one media folder they share.

A pytest plugin of tests/conftest.py, so that `stack` and `worker` are ONE session fixture for every folder
(tests/worker, tests/e2e): a second definition would start a second worker on the same queue, with a media
folder of its own, and it would take the other folder's jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from tests.helpers import ISOLATED_POOL

FAST = {
    "ECO_HEARTBEAT_INTERVAL_S": "0.3",
    "ECO_HEARTBEAT_TIMEOUT_S": "3",
    "ECO_RETRY_BACKOFF_S": "0.2",
    "ECO_POOLS": f"cpu,gpu,{ISOLATED_POOL}",
    "ECO_TRIGGER_INTERVAL_S": "0.5",
}


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = host.replace("/", "%2F")
    user = db.get("USER") or ""
    return f"postgres://{user}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


class Process:
    """A child process in its own session, so SIGKILL takes it and every process it forked."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path, ready: str | None = None):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Process:
        """Start (or start again) and wait until this start's own output says `ready`."""
        self.log_file = open(self.log_path, "ab")
        offset = self.log_file.tell()  # a restart appends: an earlier start's `ready` line does not count
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=settings.BASE_DIR,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while self.ready and self.ready.encode() not in self.log_path.read_bytes()[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker dies without a chance to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log_file", None):
            self.log_file.close()


class Stack:
    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.count = env, log_dir, 0

    def worker(self, queue: str = "cpu", **env: str) -> Process:
        """A Celery worker on `queue`, with `env` added to its environment (ECO_TRAIN_STEP_DELAY_S, say)."""
        self.count += 1
        argv = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-c",
            "1",
            "-n",
            f"test{self.count}-{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        return Process(f"worker{self.count}", argv, {**self.env, **env}, self.log_dir, ready="ready.").start()

    def server(self, port: int, **env: str) -> Process:
        """The web app under gunicorn on 127.0.0.1:`port` (config/gunicorn.py, one worker), as `make run` serves it:
        a real server that a test may stop and start again while a client keeps sending."""
        argv = [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "config.wsgi"]
        argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--graceful-timeout", "2", "--log-level", "info"]
        return Process(f"server{port}", argv, {**self.env, **env}, self.log_dir, ready="Booting worker")

    def reaper(self, every: float = 0.5) -> Process:
        argv = [sys.executable, "manage.py", "reap_jobs", "--every", str(every)]
        return Process("reaper", argv, self.env, self.log_dir).start()


def _purge(queues: list[str]) -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in queues:
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # the queue does not exist yet
                pass


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    base = tmp_path_factory.mktemp("worker")
    (base / "media").mkdir()
    (base / "tmp").mkdir()
    env = {
        **os.environ,
        **FAST,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(base / "media"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    with override_settings(ECO_POOLS=FAST["ECO_POOLS"].split(",")):
        _purge(["cpu", ISOLATED_POOL])
    built = Stack(env, base)
    built.media = base / "media"
    built.tmp = base / "tmp"
    yield built


@pytest.fixture(scope="session")
def worker(stack):
    """The shared worker on the `cpu` queue."""
    process = stack.worker("cpu")
    yield process
    process.stop()
