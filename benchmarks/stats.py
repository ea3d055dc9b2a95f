"""Per-column statistics (ml.stats) of a generated ~100 MB CSV; prints one JSON object: MB/s, seconds, rows,
passes and the peak RSS growth of the process computing them.

The file has an int id, four float columns, a 10-class label and a free-text column of ~1M distinct values
(past the exact-unique bound, so its top values take the second pass's exact recount). The statistics run in a
fresh process whose RSS high-water mark is read before and after (inspection, which runs first to give the
schema, does not count). Goal: peak RSS growth well under 100 MB whatever the file's size (constant memory).
Run: .venv/bin/python benchmarks/stats.py [--mib 100]
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

GOALS = {"rss_growth_mb": "< 100"}


def write_csv(path: Path, mib: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    target = mib * 1024 * 1024
    written = 0
    row = 0
    with open(path, "wb") as fh:
        header = b"id,f1,f2,f3,f4,label,comment\n"
        fh.write(header)
        written += len(header)
        while written < target:
            n = 100_000
            values = rng.random((n, 4))
            labels = rng.integers(0, 10, n)
            words = rng.integers(0, 1_000_000, n)
            block = "".join(
                f"{row + i},{a:.6f},{b:.6f},{c:.6f},{d:.6f},c{lab},note {w}\n"
                for i, ((a, b, c, d), lab, w) in enumerate(zip(values, labels, words, strict=True))
            ).encode()
            block = block[: target - written]
            block = block[: block.rfind(b"\n") + 1]
            if not block:
                break
            fh.write(block)
            written += len(block)
            row += n


def child(path: str, schema_path: str) -> None:
    """Compute the statistics; print {seconds, passes, rss_growth_mb, num_rows}."""
    from ml import stats

    schema = json.loads(Path(schema_path).read_text())
    opened = []

    def opener():
        opened.append(1)
        return open(path, "rb")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = stats.column_stats(opener, "csv", schema["schema"], schema["num_rows"])
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    comment = next(c for c in result["columns"] if c["name"] == "comment")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "passes": len(opened),
                "rss_growth_mb": (after - before) / 1024,  # ru_maxrss is in KiB on Linux
                "num_rows": result["num_rows"],
                "comment_unique": comment["unique"],
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from ml import formats
    from ml.formats.rules import Reading

    with tempfile.TemporaryDirectory(prefix="eco-bench-stats-") as tmp:
        path = Path(tmp) / "data.csv"
        write_csv(path, args.mib)
        size = path.stat().st_size
        inspection = formats.inspect(path, "csv", Reading(target="label", task="classification"))
        schema_path = Path(tmp) / "schema.json"
        schema_path.write_text(json.dumps({"schema": inspection.schema, "num_rows": inspection.num_rows}))
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(path), str(schema_path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(run.stdout.strip().splitlines()[-1])
    mb = size / 1e6
    print(
        json.dumps(
            {
                "benchmark": "stats",
                "format": "csv",
                "mb": round(mb, 1),
                "rows": figures["num_rows"],
                "seconds": round(figures["seconds"], 2),
                "mb_per_s": round(mb / figures["seconds"], 1),
                "mb_per_s_per_pass": round(mb * figures["passes"] / figures["seconds"], 1),
                "passes": figures["passes"],
                "rss_growth_mb": round(figures["rss_growth_mb"], 1),
                "comment_unique": figures["comment_unique"],
                "goals": GOALS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
