"""Shared set-up for benchmarks: a throw-away var/ folder and database, so nothing real is touched."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PYTHON = sys.executable


def bench_environment(name: str) -> dict:
    """Environment for a benchmark: its own ECO_VAR_DIR and, when DATABASE_URL points at PostgreSQL,
    its own database `eco_bench_<name>` on that server (dropped and created afresh)."""
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
