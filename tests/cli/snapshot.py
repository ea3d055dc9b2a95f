"""Snapshots of the tables the CLI prints for people (tests/cli/snapshots/NAME.txt).

Ids and hashes change from run to run: `normalise` replaces each distinct UUID by `<id-N>` (N in order of first
appearance, so a row that names the wrong object still fails) and each SHA-256 by `<sha256>`, both padded to the
original width so the table's columns stay aligned. Timestamps are the test's to pin (it sets them in the
database). A changed table fails; after a deliberate change, rerun with ECO_UPDATE_SNAPSHOTS=1 and review the diff.
"""

import difflib
import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(text: str) -> str:
    ids: dict[str, str] = {}

    def label(match: re.Match) -> str:
        return ids.setdefault(match.group(0), f"<id-{len(ids) + 1}>").ljust(36)

    text = SHA256.sub(lambda m: "<sha256>".ljust(64), UUID.sub(label, text))
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def assert_snapshot(name: str, text: str) -> None:
    """The normalised `text` equals snapshots/NAME.txt (written instead when ECO_UPDATE_SNAPSHOTS is set)."""
    path = SNAPSHOTS / f"{name}.txt"
    got = normalise(text)
    if os.environ.get("ECO_UPDATE_SNAPSHOTS"):
        path.write_text(got)
        return
    assert path.exists(), f"no snapshot {path.name}: run with ECO_UPDATE_SNAPSHOTS=1 and review the file"
    want = path.read_text()
    diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "snapshot", "printed", lineterm=""))
    assert got == want, f"the table differs from {path.name}:\n{diff}"
