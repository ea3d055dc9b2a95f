"""Tracking overhead: a training-like loop whose body is one 96x96 float64 matrix product in NumPy (about
0.3-0.5 ms here) runs 20,000 steps bare, then again logging 3 metrics per step through `eco.start_run`, timed
until every point is acknowledged by the server (run.finish() included). Goal: tracked / bare at most 1.05.

The server is gunicorn as `make run` serves it (config/gunicorn.py, two workers) on its own database, pinned to
the other cores while the loop, its one BLAS thread and the tracking client share the first: the figure is the
client's cost, as with a server on its own machine (on one shared pair of cores the server's work would slow the
loop as much as any other program would). Bare and tracked loops alternate (--repeats pairs) and the medians are
compared, so that a slow moment of the machine does not land on one side only. One 96x96 product takes far less
than the issue's 0.3-0.5 ms here, so the loop also runs with as many products per step as make a step of about
0.4 ms; both are printed.
Run: .venv/bin/python benchmarks/tracking.py [--steps 20000] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import bench_environment, cleanup, django_shell, gunicorn  # noqa: E402

SETUP = """
from accounts_app.models import User
from accounts_app.services import create_team, issue_token
u = User.objects.create_user(username="bench", password="bench-password-1")
create_team(actor=u, slug="bench", name="Bench")
print("RESULT", issue_token(user=u)[1])
"""


def loop(steps: int, run=None, products: int = 1) -> float:
    """Seconds for `steps` steps of `products` matrix products each (and, with `run`, 3 metrics logged per step,
    then finish())."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((96, 96)), rng.standard_normal((96, 96))
    started = time.perf_counter()
    acc = 0.0
    for step in range(steps):
        for _ in range(products):
            c = a @ b
        acc += c[0, 0]
        if run is not None:
            run.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / steps, "lr": 0.001}, step=step)
    if run is not None:
        loop.last_loop_s = time.perf_counter() - started
        run.finish()  # waits until every point is acknowledged
    return time.perf_counter() - started


def measure(base: str, token: str, spool: Path, args, products: int) -> dict:
    """Bare and tracked loops of `products` products per step, alternating, `args.repeats` pairs."""
    import eco
    from eco.client import Client

    bare, tracked, runs, loops = [], [], [], []
    for i in range(args.repeats):
        bare.append(loop(args.steps, products=products))
        run = eco.start_run(
            team="bench", url=base, token=token, spool_dir=spool / f"{products}-{i}", max_batch=args.max_batch
        )
        tracked.append(loop(args.steps, run, products=products))
        loops.append(loop.last_loop_s)
        runs.append(run.id)
    client = Client(base, token)
    stored = [sum(k["count"] for k in client.metric_keys(r)) for r in runs]
    client.close()
    bare_s, tracked_s = statistics.median(bare), statistics.median(tracked)
    return {
        "products_per_step": products,
        "steps": args.steps,
        "metrics_per_step": 3,
        "step_ms_bare": round(bare_s / args.steps * 1000, 4),
        "bare_s": [round(s, 3) for s in bare],
        "tracked_s": [round(s, 3) for s in tracked],
        "tracked_loop_s": [round(s, 3) for s in loops],  # until the last log call; the rest is the final flush
        "ratio": round(tracked_s / bare_s, 4),
        "points_acknowledged": stored,
        "points_logged_per_run": 3 * args.steps,
        "goal_ratio": "<= 1.05",
    }


def pin_database(cores: list[int]) -> None:
    """Put this machine's PostgreSQL processes (the postmaster, whose new backends inherit it, and the running
    ones) on `cores`: the database is part of the server (root only; otherwise left as it is)."""
    import psutil

    for process in psutil.process_iter(["name"]):
        if process.info["name"] and process.info["name"].startswith("postgres"):
            try:
                process.cpu_affinity(cores)
            except (psutil.Error, OSError):
                continue


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=1000, help="points per request (the client default)")
    args = parser.parse_args()
    env = bench_environment("tracking")
    cores = sorted(os.sched_getaffinity(0))
    try:
        token = django_shell(env, SETUP).splitlines()[-1].split()[1]
        if len(cores) >= 2:  # the server gets the other cores (it inherits this affinity), as if on its own machine
            os.sched_setaffinity(0, cores[1:])
            pin_database(cores[1:])
        with gunicorn(env, workers=2) as (base, _), tempfile.TemporaryDirectory() as spool:
            if len(cores) >= 2:
                os.sched_setaffinity(0, cores[:1])  # the training loop and its client: one core, one BLAS thread
            threadpool_limits(1)
            loop(2000)  # warm-up: BLAS, caches
            one_ms = loop(args.steps) / args.steps * 1000
            # The issue puts one 96x96 product at 0.3-0.5 ms; here it takes far less (OpenBLAS on this CPU), so
            # the loop also runs with as many products per step as make a step of about 0.4 ms.
            calibrated = max(1, round(0.4 / one_ms))
            results = [measure(base, token, Path(spool), args, 1), measure(base, token, Path(spool), args, calibrated)]
        print(json.dumps({"benchmark": "tracking_overhead", "one_product_ms": round(one_ms, 4), "loops": results}))
    finally:
        pin_database(cores)
        cleanup(env)


if __name__ == "__main__":
    main()
