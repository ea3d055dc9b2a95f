"""Upload a generated 1 GiB CSV through the REST API under gunicorn; print MB/s and the server's peak RSS.

Goal (issue 2): at least 200 MB/s, with the worker's peak RSS growing by less than 100 MB.
Run: .venv/bin/python benchmarks/upload.py [--mib 1024]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, bench_environment, cleanup, django_shell, gunicorn  # noqa: E402

SETUP = """
from accounts_app.models import User
from accounts_app.services import create_team, issue_token
from datasets_app.services import create_dataset
u = User.objects.create_user(username="bench", password="bench-password-1")
t = create_team(actor=u, slug="bench", name="Bench")
d = create_dataset(actor=u, team=t, name="big", task="classification")
_, raw = issue_token(user=u)
print("RESULT", raw, d.pk)
"""


def write_csv(path: Path, mib: int) -> int:
    """A CSV of `mib` MiB: an int id, four floats and a label. One 16 MiB block of random rows is written
    again and again (throughput does not depend on rows being unique)."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 350_000  # about 16 MiB of rows
    values = rng.random((n, 4))
    labels = rng.integers(0, 10, n)
    block = "".join(
        f"{i},{a:.6f},{b:.6f},{c:.6f},{d:.6f},c{lab}\n"
        for i, ((a, b, c, d), lab) in enumerate(zip(values, labels, strict=True))
    ).encode()
    target = mib * 1024 * 1024
    header = b"id,f1,f2,f3,f4,label\n"
    written = len(header)
    with open(path, "wb") as fh:
        fh.write(header)
        while written < target:
            part = block[: target - written]
            part = part[: part.rfind(b"\n") + 1]
            if not part:
                break
            fh.write(part)
            written += len(part)
    return written


def stage_speeds(path: Path) -> dict:
    """What one core does alone on this file: SHA-256, and the CSV parse with every value converted.
    The upload runs both (and the multipart parsing) at once on the machine's cores."""
    import hashlib

    sys.path.insert(0, str(ROOT))
    from ml.formats import csv
    from ml.formats.rules import Reading

    size = path.stat().st_size
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    sha_s = time.perf_counter() - started
    started = time.perf_counter()
    with open(path, "rb") as fh:
        csv._scan(fh, Reading(), check_utf8=False)
    parse_s = time.perf_counter() - started
    return {"sha256": round(size / 1e6 / sha_s, 1), "csv_parse": round(size / 1e6 / parse_s, 1)}


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    env = bench_environment("upload")
    try:
        token, dataset = django_shell(env, SETUP).splitlines()[-1].split()[1:]
        data = Path(env["ECO_VAR_DIR"]) / "big.csv"
        t0 = time.perf_counter()
        size = write_csv(data, args.mib)
        gen_s = time.perf_counter() - t0
        with gunicorn(env) as (base, master):
            url = f"{base}/api/v1/datasets/{dataset}/versions/"
            worker = worker_pid(master)
            small = Path(env["ECO_VAR_DIR"]) / "small.csv"
            small.write_text("id,f1,label\n1,0.5,a\n2,0.7,b\n")
            curl = [
                "curl",
                "-sS",
                "-o",
                "/dev/stderr",
                "-w",
                "%{http_code} %{time_total}",
                "-H",
                f"Authorization: Bearer {token}",
                "-F",
                "target=label",
            ]
            warm = subprocess.run([*curl, "-F", f"file=@{small}", url], capture_output=True, text=True)
            assert warm.stdout.startswith("201"), warm
            rss_before = status_kb(worker, "VmRSS")
            hwm_before = status_kb(worker, "VmHWM")
            result = subprocess.run([*curl, "-F", f"file=@{data}", url], capture_output=True, text=True)
            code, seconds = result.stdout.split()
            body = json.loads(result.stderr)
            assert code == "201", result.stderr[:500]
            hwm_after = status_kb(worker, "VmHWM")
        seconds = float(seconds)
        stages = stage_speeds(data)
        figures = {
            "benchmark": "upload_csv",
            "size_bytes": size,
            "rows": body["num_rows"],
            "seconds": round(seconds, 3),
            "mb_per_s": round(size / 1e6 / seconds, 1),
            "mib_per_s": round(size / 2**20 / seconds, 1),
            "worker_rss_before_mb": round(rss_before / 1024, 1),
            "worker_peak_rss_before_mb": round(hwm_before / 1024, 1),
            "worker_peak_rss_after_mb": round(hwm_after / 1024, 1),
            "peak_rss_growth_mb": round((hwm_after - max(rss_before, 0)) / 1024, 1),
            "goal": {"mb_per_s": ">= 200", "peak_rss_growth_mb": "< 100"},
            "single_core_stage_mb_per_s": stages,
            "generate_s": round(gen_s, 1),
            "database": env.get("DATABASE_URL", "sqlite").split("://")[0],
        }
        print(json.dumps(figures))
    finally:
        cleanup(env)
        os.environ.get("KEEP")  # nothing else to tidy


if __name__ == "__main__":
    main()
