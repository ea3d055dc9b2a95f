"""Shared set-up for benchmarks: a throw-away var/ folder and database, so nothing real is touched."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PYTHON = sys.executable


def bench_environment(name: str, *, migrate: bool = True) -> dict:
    """Environment for a benchmark: its own ECO_VAR_DIR and, when DATABASE_URL points at PostgreSQL,
    its own database `eco_bench_<name>` on that server (dropped and created afresh), migrated by this checkout
    unless `migrate` is False (code of another revision migrates it itself)."""
    var = Path(tempfile.mkdtemp(prefix=f"eco-bench-{name}-", dir=os.environ.get("ECO_BENCH_TMP")))
    env = dict(os.environ, ECO_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="config.settings", DEBUG="true")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        db = f"eco_bench_{name}"
        admin_url = url
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{db}"))
    env.pop("ECO_MAX_UPLOAD_BYTES", None)
    if migrate:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def cleanup(env: dict) -> None:
    shutil.rmtree(env["ECO_VAR_DIR"], ignore_errors=True)
    url = env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")) and "eco_bench_" in url:
        import psycopg

        db = urlsplit(url).path.lstrip("/")
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def django_shell(env: dict, code: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(env: dict, *, workers: int = 1, threads: int = 1, code: Path = ROOT):
    """The production server (gunicorn) serving the checkout in `code` on a free port; yields (base_url,
    master_pid)."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "900",
            "--log-level",
            "warning",
        ],
        cwd=code,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/v1/health/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@contextmanager
def celery_worker(env: dict, queue: str = "cpu"):
    """A real Celery worker (one process) on `queue`; waits until it is ready."""
    log = Path(env["ECO_VAR_DIR"]) / f"worker-{queue}.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "ready." not in log.read_text(errors="replace"):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text(errors="replace")[-3000:])
                time.sleep(0.1)
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
