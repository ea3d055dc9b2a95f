"""`make bench`: run every benchmark; each prints its JSON figures, one object per line (upload: one per format).

With DATABASE_URL pointing at PostgreSQL, each benchmark uses its own throw-away database on that server;
otherwise SQLite in a throw-away folder. ECO_BENCH_UPLOAD_MIB sets the upload size (default 1024).
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = [
    ["list_queries.py"],
    ["metrics_store.py"],
    ["tracking.py"],
    ["jobs.py"],
    ["admission.py"],
    ["recipes.py"],
    ["upload.py", "--mib", os.environ.get("ECO_BENCH_UPLOAD_MIB", "1024")],
    ["stats.py"],
    ["rowhash.py"],
    ["serving.py"],
    ["quantize.py"],
    ["dashboard.py"],
    ["finetune.py"],
]


def main() -> int:
    failed = 0
    for script, *args in BENCHMARKS:
        result = subprocess.run([sys.executable, str(HERE / script), *args])
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
