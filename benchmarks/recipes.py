"""Recommended recipes against scikit-learn baselines on the built-in data sets.

Each built-in data set is rebuilt in the column layout the platform stores (feature columns plus
`target`; class names for iris / wine / breast_cancer, integer labels for digits, values for diabetes),
trained with its recommended architecture and DEFAULT hyperparameters through `ml.pipeline.train` on a
stratified 80/20 split, and scored on the held-out 20% beside an SVC (StandardScaler + SVC) or Ridge
baseline fitted on the very same rows. Prints one JSON object.

    .venv/bin/python benchmarks/recipes.py [--seeds 0,1,2] [--only digits,iris]

The issue's absolute goals (digits 0.975, iris and wine 0.99, breast_cancer 0.955, diabetes R² 0.33) were set
from baselines measured on some other 80/20 split; on this platform's seeded splits the same SVC scores
differently (iris: 0.90 on seed 0), so the figures to judge are the recipe against the baseline fitted here on
the very same rows, over several split seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ml.data import encode_targets, split_indices  # noqa: E402
from ml.pipeline import train  # noqa: E402
from ml.recipes import BUILTIN_RECIPES  # noqa: E402

LOADERS = {
    "digits": ("load_digits", "index"),
    "iris": ("load_iris", "names"),
    "wine": ("load_wine", "names"),
    "breast_cancer": ("load_breast_cancer", "names"),
    "diabetes": ("load_diabetes", None),
}
GOALS = {"digits": 0.975, "iris": 0.99, "wine": 0.99, "breast_cancer": 0.955, "diabetes": 0.33}
TARGET = "target"


class QuietReporter:
    """The Reporter protocol with nowhere to report to; keeps the last checkpoint in memory."""

    def __init__(self) -> None:
        self.checkpoint = None

    def log_metrics(self, step, metrics) -> None:
        pass

    def set_progress(self, fraction) -> None:
        pass

    def log(self, message) -> None:
        pass

    def save_checkpoint(self, tensors, meta) -> None:
        self.checkpoint = (tensors, meta)

    def load_checkpoint(self):
        return None

    def should_stop(self) -> bool:
        return False


def _column_name(name: str) -> str:
    """The platform's column name for a scikit-learn feature name (as datasets_app.bundled writes it)."""
    return re.sub(r"_+", "_", re.sub(r"[^0-9a-zA-Z]+", "_", name)).strip("_").lower()


def builtin_columns(name: str) -> dict[str, np.ndarray]:
    """The built-in data set as the platform's CSV reads back: float features and the target column."""
    from sklearn import datasets

    loader, labels = LOADERS[name]
    bunch = getattr(datasets, loader)()
    data = np.asarray(bunch.data, dtype=np.float64)
    columns = {_column_name(f): data[:, i] for i, f in enumerate(bunch.feature_names)}
    if labels == "names":
        columns[TARGET] = np.array([str(bunch.target_names[t]) for t in bunch.target], dtype=object)
    else:
        columns[TARGET] = np.asarray(bunch.target, dtype=np.float64)
    return columns


def baseline(columns: dict[str, np.ndarray], task: str, split: dict) -> tuple[str, float]:
    """The scikit-learn baseline's test score on the pipeline's own train/test rows."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    targets, _ = encode_targets(columns[TARGET], task)
    train_index, _, test_index = split_indices(targets, **split)
    x = np.stack([v for k, v in columns.items() if k != TARGET], axis=1)
    if task == "regression":
        model, name = Ridge(alpha=1.0), "Ridge"
    else:
        model, name = make_pipeline(StandardScaler(), SVC()), "StandardScaler+SVC"
    model.fit(x[train_index], targets[train_index])
    return name, float(model.score(x[test_index], targets[test_index]))


def run(name: str, seed: int) -> dict:
    """Train the recommended recipe on one built-in data set and compare it with the baseline."""
    task = "regression" if name == "diabetes" else "classification"
    architecture = BUILTIN_RECIPES[name]
    columns = builtin_columns(name)
    split = {"seed": seed, "validation": 0.0, "test": 0.2, "stratify": True}
    started = time.perf_counter()
    outcome = train(columns, task=task, target=TARGET, architecture=architecture, split=split, reporter=QuietReporter())
    wall = time.perf_counter() - started
    metric = "r2" if task == "regression" else "accuracy"
    score = outcome.metrics[metric]
    baseline_name, baseline_score = baseline(columns, task, split)
    return {
        "architecture": architecture,
        "metric": metric,
        "score": round(score, 4),
        "goal": GOALS[name],
        "met": score >= GOALS[name],
        "baseline": baseline_name,
        "baseline_score": round(baseline_score, 4),
        "baseline_met": baseline_score >= GOALS[name],
        "within_one_point_of_baseline": score >= baseline_score - 0.01,
        "hyperparameters": {k: v for k, v in outcome.hyperparameters.items() if k not in ("seed", "log_every")},
        "train_rows": outcome.split["train_rows"],
        "test_rows": outcome.split["test_rows"],
        "train_seconds": round(outcome.fit.train_seconds, 2),
        "wall_seconds": round(wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="split seeds (training uses the default seed)")
    parser.add_argument("--only", default="", help="comma-separated data sets (default: all)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(LOADERS)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    started = time.perf_counter()
    runs = {seed: {name: run(name, seed) for name in names} for seed in seeds}
    summary = {}
    for name in names:
        scores = [runs[seed][name]["score"] for seed in seeds]
        baselines = [runs[seed][name]["baseline_score"] for seed in seeds]
        summary[name] = {
            "architecture": BUILTIN_RECIPES[name],
            "metric": runs[seeds[0]][name]["metric"],
            "mean_score": round(float(np.mean(scores)), 4),
            "mean_baseline": round(float(np.mean(baselines)), 4),
            "goal": GOALS[name],
            "goal_met_on_mean": float(np.mean(scores)) >= GOALS[name],
            "within_one_point_of_baseline_on_every_seed": all(
                runs[seed][name]["within_one_point_of_baseline"] for seed in seeds
            ),
        }
    print(
        json.dumps(
            {
                "benchmark": "recipes",
                "split": {"seeds": seeds, "validation": 0.0, "test": 0.2, "stratify": True},
                "torch_threads": torch.get_num_threads(),
                "python": platform.python_version(),
                "summary": summary,
                "runs": {str(seed): results for seed, results in runs.items()},
                "all_goals_met_on_mean": all(r["goal_met_on_mean"] for r in summary.values()),
                "all_within_one_point_of_baseline": all(
                    r["within_one_point_of_baseline_on_every_seed"] for r in summary.values()
                ),
                "total_seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
