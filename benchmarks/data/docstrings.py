"""Build benchmarks/data/docstrings.csv: which library a docstring sentence comes from (numpy, scikit-learn,
torch, django), a text-classification data set made from text that ships with installed packages.

The sentences are the first sentence of each module, class and function docstring, read from the packages'
source files with `ast` (nothing is imported or run). Sentences of 30 to 200 characters are kept; any that
names a library (numpy, np., sklearn, scikit, torch, django, pytorch, tensor) is dropped, since it would give
its label away; duplicates (within and across libraries) are dropped. 600 sentences per library are drawn
with a fixed seed, and a stratified 80/20 split (scikit-learn's train_test_split, random_state 0) is written
as the `split` column. The CSV is committed: the benchmark (benchmarks/finetune.py) trains on it as it is.

Run: .venv/bin/python benchmarks/data/docstrings.py  (writes docstrings.csv and docstrings.json beside it)
"""

import ast
import csv
import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

LIBRARIES = {"numpy": "numpy", "sklearn": "scikit-learn", "torch": "torch", "django": "django"}
PER_LIBRARY = 600
GIVEAWAY = re.compile(r"numpy|\bnp\.|sklearn|scikit|torch|django|pytorch|tensor", re.I)
HERE = Path(__file__).resolve().parent


def first_sentences(package: str) -> list[str]:
    root = Path(importlib.util.find_spec(package).origin).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "tests" in path.parts or "test" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node)
            if not doc:
                continue
            text = " ".join(doc.strip().split("\n\n")[0].split())
            sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
            if 30 <= len(sentence) <= 200 and not GIVEAWAY.search(sentence) and "`" not in sentence:
                found.append(sentence)
    return found


def main() -> None:
    per_library = {name: list(dict.fromkeys(first_sentences(name))) for name in LIBRARIES}
    counts = {}
    for sentences in per_library.values():
        for s in sentences:
            counts[s] = counts.get(s, 0) + 1
    rng = np.random.default_rng(0)
    rows = []
    for name, sentences in per_library.items():
        unique = [s for s in sentences if counts[s] == 1]
        picked = rng.choice(len(unique), size=PER_LIBRARY, replace=False)
        rows += [(unique[i], name) for i in sorted(picked)]
    texts, labels = [r[0] for r in rows], [r[1] for r in rows]
    train, test = train_test_split(np.arange(len(rows)), test_size=0.2, stratify=labels, random_state=0)
    split = np.empty(len(rows), dtype=object)
    split[train], split[test] = "train", "test"
    with open(HERE / "docstrings.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "split"])
        writer.writerows(zip(texts, labels, split, strict=True))
    facts = {
        "rows": len(rows),
        "per_library": PER_LIBRARY,
        "available": {name: sum(counts[s] == 1 for s in per_library[name]) for name in LIBRARIES},
        "versions": {name: importlib.metadata.version(dist) for name, dist in LIBRARIES.items()},
        "train_rows": int((split == "train").sum()),
        "test_rows": int((split == "test").sum()),
    }
    (HERE / "docstrings.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
