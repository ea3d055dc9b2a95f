"""The README's walk-through runs: every fenced block marked ```bash walkthrough, in order, in one bash,
against a live web server started as `make run` starts it (platform/Procfile's web line through honcho)
and a real Celery worker, on the test database. The blocks' own helpers fail on any unexpected status
(a refusal the README shows must say `expect CODE`), and the script runs under `set -euo pipefail`."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from jobs_app.models import Job
from tests.stack import Process

pytestmark = pytest.mark.django_db(transaction=True)

README = Path(settings.BASE_DIR) / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
FILES_IT_WRITES = ("flowers.csv", "flowers-v2.csv", "broken.csv", "w.safetensors", "w-copy.safetensors")


def walkthrough() -> list[str]:
    """The marked blocks, in README order."""
    return [body for info, body in FENCE.findall(README.read_text()) if info.split()[1:2] == ["walkthrough"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_readme_block_that_calls_the_api_is_part_of_the_walkthrough():
    blocks = FENCE.findall(README.read_text())
    assert len(walkthrough()) >= 2
    unmarked = [body[:200] for info, body in blocks if "$API" in body and "walkthrough" not in info.split()]
    assert unmarked == []
    for body in walkthrough():  # the helpers decide what a failure is; a bare `curl -s` would hide one
        bare = [line for line in body.splitlines() if re.search(r"\bcurl -", line) and "--fail" not in line]
        assert all("-w '\\n%{http_code}'" in line for line in bare), bare


def test_the_readme_walkthrough_runs_pasted_in_order_on_a_live_server(stack, worker, tmp_path):
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **stack.env,
        "PATH": f"{bin_dir}:{stack.env.get('PATH', '')}",
        "PORT": str(port),
        "ECO_HOST": "127.0.0.1",
        "TMPDIR": str(tmp_path),  # where the walk-through's `mktemp -d` folder goes
    }
    banner = subprocess.run(
        [sys.executable, "manage.py", "bootstrap_demo"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert banner.returncode == 0, banner.stderr
    assert f"http://127.0.0.1:{port}/" in banner.stdout  # the banner names the address `make run` serves

    argv = [str(Path(bin_dir) / "honcho"), "-f", "platform/Procfile", "-d", ".", "start", "--port", str(port), "web"]
    web = Process("web", argv, env, tmp_path, ready="Booting worker").start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, web.log()
            time.sleep(0.2)
        script = tmp_path / "walkthrough.sh"
        script.write_text("set -euo pipefail\n" + "\n".join(walkthrough()))
        run = subprocess.run(
            ["bash", str(script)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=1500,
        )
    finally:
        web.stop()
    report = f"{run.stdout[-6000:]}\n--- web ---\n{web.log()[-3000:]}\n--- worker ---\n{worker.log()[-3000:]}"
    assert run.returncode == 0, report
    assert not any((Path(settings.BASE_DIR) / name).exists() for name in FILES_IT_WRITES)
    written = {p.name for p in tmp_path.glob("tmp*/*")}
    assert set(FILES_IT_WRITES) <= written, written
    kinds = sorted(Job.objects.filter(status="succeeded").values_list("kind", flat=True))
    assert {"train", "evaluate", "process", "snapshot", "export", "quantize"} <= set(kinds), kinds
    assert Job.objects.filter(status="cancelled").count() == 1
