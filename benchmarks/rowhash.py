"""Row hashes for the gates' leakage check (ml.rowhash) of a generated CSV of --rows rows (default 1,000,000):
ten float columns, a 50-value category, a free-text column of distinct values and a label. Prints one JSON
object: seconds to read the file alone (the format's reader), to read and hash it, the peak RSS growth of the
process doing it, the stored size of the hashes, and the time to count the overlap with a second set of the
same size (half its rows shared).

Reading and hashing run in a fresh process whose RSS high-water mark (VmHWM) is reset before and read after
each (inspection, which gives the schema, runs in the parent). Goal: hashing adds well under the read time;
memory a few tens of MB beyond 8 bytes a row.
Run: .venv/bin/python benchmarks/rowhash.py [--rows 1000000]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT  # noqa: E402  (puts the repository on sys.path)


def write_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    columns = {f"f{i}": rng.normal(size=rows).round(4) for i in range(10)}
    columns["category"] = pa.array([f"c{v}" for v in rng.integers(0, 50, rows)])
    columns["comment"] = pa.array([f"row text {i}" for i in range(rows)])
    columns["label"] = pa.array([str(v) for v in rng.integers(0, 3, rows)])
    pacsv.write_csv(pa.table(columns), path)


def _peak_kib(reset: bool = False) -> int:
    """The process's peak RSS in KiB (VmHWM), reset first when asked (Linux: clear_refs 5)."""
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: str, schema_path: str) -> None:
    import numpy as np

    from ml import formats, rowhash
    from ml.formats import Reading

    schema = json.loads(Path(schema_path).read_text())
    before = _peak_kib(reset=True)
    start = time.perf_counter()
    for _table in formats.module("csv").batches(path, Reading.of(schema)):
        pass
    read = time.perf_counter() - start
    read_peak = _peak_kib()
    before = _peak_kib(reset=True)
    start = time.perf_counter()
    hashed = rowhash.row_hashes(path, "csv", schema)
    seconds = time.perf_counter() - start
    after = _peak_kib()
    other = np.concatenate([hashed.hashes[::2], np.arange(len(hashed.hashes) // 2, dtype=np.uint64)])
    other = rowhash.merged([other])
    start = time.perf_counter()
    shared = rowhash.overlap(hashed.hashes, other)
    overlap_seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "read_seconds": read,
                "seconds": seconds,
                "rss_growth_mb": (after - before) / 1024,
                "read_rss_growth_mb": (read_peak - before) / 1024,
                "rows": hashed.rows,
                "distinct": hashed.distinct,
                "stored_mb": len(rowhash.to_bytes(hashed.hashes)) / 1e6,
                "overlap_seconds": overlap_seconds,
                "overlap": shared,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from ml import formats
    from ml.formats.rules import Reading

    with tempfile.TemporaryDirectory(prefix="eco-bench-rowhash-") as tmp:
        path = Path(tmp) / "data.csv"
        write_csv(path, args.rows)
        inspection = formats.inspect(path, "csv", Reading(target="label", task="classification"))
        schema_path = Path(tmp) / "schema.json"
        schema_path.write_text(json.dumps(inspection.schema))
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(path), str(schema_path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        mb = path.stat().st_size / 1e6
    print(
        json.dumps(
            {
                "benchmark": "rowhash",
                "format": "csv",
                "mb": round(mb, 1),
                "rows": figures["rows"],
                "distinct": figures["distinct"],
                "read_seconds": round(figures["read_seconds"], 2),
                "read_and_hash_seconds": round(figures["seconds"], 2),
                "rss_growth_mb": round(figures["rss_growth_mb"], 1),
                "read_alone_rss_growth_mb": round(figures["read_rss_growth_mb"], 1),
                "stored_mb": round(figures["stored_mb"], 1),
                "overlap_seconds": round(figures["overlap_seconds"], 4),
                "overlap": figures["overlap"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
