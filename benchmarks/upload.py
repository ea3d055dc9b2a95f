"""Upload a generated 1 GiB CSV and a generated 1 GiB Parquet file through the REST API under gunicorn;
print, per format, MB/s, seconds, rows, the worker's peak RSS growth and single-core stage speeds.

Goals (issue 10): CSV at least 100 MB/s, Parquet at least 200 MB/s (numeric columns and a label column, row
groups of at most 128 MB), and for both the gunicorn worker's peak RSS growing by less than 100 MB.
The clock runs from the first byte sent to the 201 answer: receiving, hashing, writing and inspecting the
file (CSV is parsed while it arrives; Parquet is inspected from the finished file, footer first).
Run: .venv/bin/python benchmarks/upload.py [--format csv|parquet|both] [--mib 1024]
Prints one JSON object per format, each on its own line.
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
GOALS = {"csv": {"mb_per_s": ">= 100"}, "parquet": {"mb_per_s": ">= 200"}}
PARQUET_GROUP_ROWS = 1_500_000  # 9 columns of 8 bytes and a short label: about 110 MB per row group


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


def write_parquet(path: Path, mib: int) -> int:
    """A Parquet file of about `mib` MiB (snappy, pyarrow's defaults): an int id, eight random floats (about
    1% of f1 missing as NaN, 1% of f2 null) and a ten-valued text label, in row groups of at most
    PARQUET_GROUP_ROWS rows. One block of rows is written as row group after row group; the last is cut to
    the size."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n = min(PARQUET_GROUP_ROWS, max(1000, mib * 13_000))
    floats = rng.random((8, n))
    floats[0, rng.random(n) < 0.01] = np.nan
    columns = {"id": pa.array(np.arange(n, dtype=np.int64))}
    for i, values in enumerate(floats, start=1):
        columns[f"f{i}"] = pa.array(values, mask=rng.random(n) < 0.01 if i == 2 else None)
    columns["label"] = pa.array(np.char.add("c", rng.integers(0, 10, n).astype(str)))
    block = pa.table(columns)
    target = mib * 1024 * 1024
    with pq.ParquetWriter(path, block.schema) as writer:
        writer.write_table(block, row_group_size=n)
        per_row = path.stat().st_size / n  # what one row costs on disk
        while (left := target - path.stat().st_size) > per_row:
            writer.write_table(block.slice(0, int(left / per_row)), row_group_size=n)
    return path.stat().st_size


WRITERS = {"csv": write_csv, "parquet": write_parquet}


def parquet_layout(path: Path) -> dict:
    """How many row groups the file has and the largest one's uncompressed size in MB."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
    return {"row_groups": len(sizes), "largest_row_group_mb": round(max(sizes) / 1e6, 1)}


def stage_speeds(path: Path, fmt: str) -> dict:
    """What one core does alone on this file: SHA-256 and the format's inspection in MB/s (the upload's CSV
    scan, every value converted; the Parquet inspection with the upload's reading), and the inspection's
    peak Arrow allocation and peak RSS growth in MB. The upload runs the hashing, the multipart parsing and
    (for CSV) the scan at once on the machine's cores."""
    import hashlib

    sys.path.insert(0, str(ROOT))
    import pyarrow as pa

    from ml.formats import csv, parquet
    from ml.formats.rules import Reading

    size = path.stat().st_size
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    speeds = {"sha256": round(size / 1e6 / (time.perf_counter() - started), 1)}
    rss_before = status_kb(os.getpid(), "VmRSS")
    pool = pa.default_memory_pool()
    started = time.perf_counter()
    if fmt == "csv":
        with open(path, "rb") as fh:
            csv._scan(fh, Reading(), check_utf8=False, block_bytes=csv.STREAM_BLOCK_BYTES)
        speeds["csv_scan"] = round(size / 1e6 / (time.perf_counter() - started), 1)
    else:
        parquet.inspect(path, Reading(target="label", task="classification"))
        speeds["parquet_inspect"] = round(size / 1e6 / (time.perf_counter() - started), 1)
    speeds["inspect_peak_arrow_mb"] = round(pool.max_memory() / 1e6, 1)
    speeds["inspect_peak_rss_growth_mb"] = round((status_kb(os.getpid(), "VmHWM") - rss_before) / 1024, 1)
    return speeds


def stage_speeds_alone(path: Path, fmt: str) -> dict:
    """`stage_speeds` in a fresh process, so its memory figures are the inspection's alone."""
    result = subprocess.run(
        [sys.executable, __file__, "--stages", str(path), "--format", fmt], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def warm_files(folder: Path) -> list[Path]:
    """Small files of each format, uploaded first so imports and first-use allocations are not counted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    small = folder / "small.csv"
    small.write_text("id,f1,label\n1,0.5,a\n2,0.7,b\n")
    small_parquet = folder / "small.parquet"
    pq.write_table(pa.table({"id": [1, 2], "f1": [0.5, None], "label": ["a", "b"]}), small_parquet)
    return [small, small_parquet]


def measure(env: dict, token: str, dataset: str, fmt: str, mib: int) -> dict:
    """Generate the file, upload it once to a fresh gunicorn worker (after warm-up uploads) and measure."""
    data = Path(env["ECO_VAR_DIR"]) / f"big.{fmt}"
    t0 = time.perf_counter()
    size = WRITERS[fmt](data, mib)
    gen_s = time.perf_counter() - t0
    with gunicorn(env) as (base, master):
        url = f"{base}/api/v1/datasets/{dataset}/versions/"
        worker = worker_pid(master)
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
        for small in warm_files(Path(env["ECO_VAR_DIR"])):
            warm = subprocess.run([*curl, "-F", f"file=@{small}", url], capture_output=True, text=True)
            assert warm.stdout.startswith("201"), warm
        rss_before = status_kb(worker, "VmRSS")
        hwm_before = status_kb(worker, "VmHWM")
        load = os.getloadavg()
        result = subprocess.run([*curl, "-F", f"file=@{data}", url], capture_output=True, text=True)
        code, seconds = result.stdout.split()
        assert code == "201", result.stderr[:500]
        body = json.loads(result.stderr)
        hwm_after = status_kb(worker, "VmHWM")
        rss_after = status_kb(worker, "VmRSS")
    seconds = float(seconds)
    stages = stage_speeds_alone(data, fmt)
    layout = parquet_layout(data) if fmt == "parquet" else {}
    data.unlink()
    return {
        "benchmark": f"upload_{fmt}",
        "size_bytes": size,
        "rows": body["num_rows"],
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mib_per_s": round(size / 2**20 / seconds, 1),
        "worker_rss_before_mb": round(rss_before / 1024, 1),
        "worker_rss_after_mb": round(rss_after / 1024, 1),
        "worker_peak_rss_before_mb": round(hwm_before / 1024, 1),
        "worker_peak_rss_after_mb": round(hwm_after / 1024, 1),
        "peak_rss_growth_mb": round((hwm_after - rss_before) / 1024, 1),
        "goal": {**GOALS[fmt], "peak_rss_growth_mb": "< 100"},
        **layout,
        "single_core_stage_mb_per_s": stages,
        "load_average_1_5_15": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
        "generate_s": round(gen_s, 1),
        "database": env.get("DATABASE_URL", "sqlite").split("://")[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--format", choices=["csv", "parquet", "both"], default="both")
    parser.add_argument("--stages", type=Path, help=argparse.SUPPRESS)  # internal: stage_speeds_alone
    args = parser.parse_args()
    if args.stages:
        print(json.dumps(stage_speeds(args.stages, args.format)))
        return
    formats = ["csv", "parquet"] if args.format == "both" else [args.format]
    env = bench_environment("upload")
    try:
        token, dataset = django_shell(env, SETUP).splitlines()[-1].split()[1:]
        for fmt in formats:
            print(json.dumps(measure(env, token, dataset, fmt, args.mib)), flush=True)
    finally:
        cleanup(env)


if __name__ == "__main__":
    main()
