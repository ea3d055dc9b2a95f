"""Metric ingest, this checkout against an earlier revision, side by side: the same 1,000-point requests (each with
its batch_id and the client's times, four keys a step, as the tracking client sends them) go to two gunicorn
servers in turn, one running this checkout and one a git revision checked out in a throw-away worktree, each as
`make run` serves it (one worker, eight threads) on its own database. A slow moment of a shared machine then
lands on both sides alike, so the ratio holds where the absolute figures of benchmarks/metrics_store.py drift.

Prints {"revision", "requests", "this": {median_ms, mean_ms, points_per_s_at_median}, "revision_figures": {...},
"speedup": revision median / this median, "load_average_1min"}.
Run: .venv/bin/python benchmarks/ingest_ab.py [--against REV] [--requests 300]
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, bench_environment, cleanup, gunicorn  # noqa: E402
from metrics_store import SETUP, bodies  # noqa: E402

PYTHON = sys.executable


def _side(name: str, code: Path, servers: contextlib.ExitStack) -> tuple[dict, httpx.Client, str]:
    """A database migrated by `code`'s own migrations, its bench user and tracking run, and a server of `code`
    (one worker, eight threads, as make run) kept until `servers` closes; (env, client, metrics url)."""
    env = bench_environment(f"ab_{name}", migrate=False)
    servers.callback(cleanup, env)
    env["PYTHONPATH"] = str(code)  # the editable install points at this checkout; the worktree's code goes first
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=code, env=env, check=True)
    shell = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SETUP], cwd=code, env=env, check=True, capture_output=True, text=True
    )
    token, _, _, job = shell.stdout.strip().splitlines()[-1].split()[1:5]
    base, _ = servers.enter_context(gunicorn(env, workers=1, threads=8, code=code))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    client = servers.enter_context(httpx.Client(headers=headers, timeout=120))
    return env, client, f"{base}/api/v1/jobs/{job}/metrics/"


def _figures(seconds: list[float]) -> dict:
    median = statistics.median(seconds)
    return {
        "median_ms": round(median * 1000, 2),
        "mean_ms": round(statistics.mean(seconds) * 1000, 2),
        "points_per_s_at_median": round(1000 / median),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", default="HEAD~1", help="the git revision to compare with")
    parser.add_argument("--requests", type=int, default=300, help="timed 1,000-point requests per side")
    args = parser.parse_args()
    worktree = Path(tempfile.mkdtemp(prefix="eco-bench-ab-")) / "code"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(worktree), args.against], cwd=ROOT, check=True)
    try:
        with contextlib.ExitStack() as servers:
            sides = [_side("this", ROOT, servers), _side("revision", worktree, servers)]
            warm_up, timed = 10, args.requests
            payloads = bodies((warm_up + timed) * 1000, 1000, batch_ids=True)
            for _, client, url in sides:
                for body in payloads[:warm_up]:
                    client.post(url, content=body).raise_for_status()
            seconds: list[list[float]] = [[], []]
            for body in payloads[warm_up:]:
                for i, (_, client, url) in enumerate(sides):  # in turn: both sides see the same moments
                    started = time.perf_counter()
                    client.post(url, content=body).raise_for_status()
                    seconds[i].append(time.perf_counter() - started)
        this, revision = _figures(seconds[0]), _figures(seconds[1])
        print(
            json.dumps(
                {
                    "benchmark": "ingest_ab",
                    "revision": args.against,
                    "requests": timed,
                    "this": this,
                    "revision_figures": revision,
                    "speedup": round(revision["median_ms"] / this["median_ms"], 2),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                }
            )
        )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
        shutil.rmtree(worktree.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
