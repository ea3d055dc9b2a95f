"""The recommended recipe: which architecture fits a task, how big to make it for the data, and which
hyperparameters a user gets when they give none.

Recipes depend on the architecture, the task and the size of the data only, never on a data set's name,
so the same defaults serve an uploaded table exactly as they serve a built-in one. `BUILTIN_RECIPES` only
says which architecture to start from for each built-in data set (digits is 8x8 images, so a cnn).
"""

from __future__ import annotations

import math

from ml.architectures import (
    CLASSIFICATION,
    IMAGE_CLASSIFICATION,
    REGISTRY,
    REGRESSION,
    TASKS,
    TEXT_CLASSIFICATION,
    SpecError,
    tensor_shapes,
)
from ml.architectures import get as entry_of
from ml.data import Arrays
from ml.impute import OPTION as IMPUTE
from ml.impute import check_strategy

__all__ = ["CLASSIFICATION", "IMAGE_CLASSIFICATION", "REGRESSION", "TASKS", "TEXT_CLASSIFICATION"]

BUILTIN_RECIPES = {"digits": "cnn", "iris": "mlp", "wine": "mlp", "breast_cancer": "mlp", "diabetes": "mlp"}

# What each architecture serves, the options a user may set and their values, and its training recipe
# are entries of ml.architectures.REGISTRY; this module turns them into a spec and hyperparameters.
DATA_OPTIONS = (IMPUTE,)  # options every architecture takes; never part of the network's spec
SMALL_TABLE_ROWS = 5000  # below this many train rows, an architecture's small_data_defaults apply
SMALL_BATCH_ROWS = 1000  # below this many train rows, its training recipe's small_batch_size applies


def recommended_architecture(task: str, num_features: int | None = None, image_shape=None) -> str:
    """The architecture a data set of `task` starts from: a cnn for images, a textcnn for text, an mlp
    for tables. `num_features` and `image_shape` are accepted for callers that know them; a table is an
    mlp whatever its width (ask for a cnn explicitly to treat square pixel columns as images)."""
    if task == IMAGE_CLASSIFICATION:
        return "cnn"
    if task == TEXT_CLASSIFICATION:
        return "textcnn"
    return "mlp"


def fits_task(architecture: str, task: str) -> str | None:
    """None when `architecture` can serve `task`, otherwise one line saying why not."""
    if architecture not in REGISTRY:
        return f"unknown architecture {architecture!r}; known: {', '.join(REGISTRY)}"
    if task not in TASKS:
        return f"unknown task {task!r}; known: {', '.join(TASKS)}"
    entry = REGISTRY[architecture]
    if task not in entry.tasks:
        return f"{architecture} cannot serve {task}: it serves {entry.serves}"
    return None


def num_outputs(train: Arrays, task: str) -> int:
    """Classes known to the preprocessing (all of them, even any missing from the train rows), or 1."""
    if task == REGRESSION:
        return 1
    classes = train.preprocessing.get("classes")
    return len(classes) if classes else int(train.targets.max(initial=0)) + 1


def data_fields(architecture: str, train: Arrays, task: str) -> dict:
    """The spec fields that follow from the data: input width / image shape / vocabulary, and outputs."""
    return {
        "num_outputs": num_outputs(train, task),
        **entry_of(architecture).fields_from_data(train.inputs, train.preprocessing),
    }


def architecture_defaults(architecture: str, num_train_rows: int) -> dict:
    """The recipe's values for the options a user may set. A table of a few hundred rows overfits a
    two-layer mlp; one hidden layer of 64 with dropout 0.3 generalises better on small tables."""
    entry = entry_of(architecture)
    defaults = dict(entry.defaults)
    if num_train_rows < SMALL_TABLE_ROWS:
        defaults.update(entry.small_data_defaults)
    return defaults


def check_options(architecture: str, options: dict | None) -> dict:
    """The user's architecture options, checked for names only (values are checked on the built spec).

    Data options (`impute`, see ml/impute.py), allowed for every architecture, are checked here and left out
    of the returned options: they shape the data, not the network."""
    entry = entry_of(architecture)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise SpecError("architecture options must be a JSON object")
    allowed = entry.defaults
    for key in options:
        if key in DATA_OPTIONS:
            continue
        if key in entry.data_fields or key == "architecture":
            raise SpecError(f"'{key}' is set from the data and cannot be given for {architecture}")
        if key not in allowed:
            raise SpecError(
                f"unknown option '{key}' for {architecture}; allowed: {', '.join([*allowed, *DATA_OPTIONS])}"
            )
    check_strategy(options.get(IMPUTE))
    return {k: v for k, v in options.items() if k not in DATA_OPTIONS}


def build_spec(architecture: str, train: Arrays, task: str, options: dict | None = None) -> dict:
    """The architecture spec for `train`: recipe defaults, then the user's options, then the fields the
    data fixes. Checked the way build_model checks it (SpecError names a bad field)."""
    given = check_options(architecture, options)
    problem = fits_task(architecture, task)
    if problem:
        raise SpecError(problem)
    spec = {
        "architecture": architecture,
        **architecture_defaults(architecture, len(train)),
        **given,
        **data_fields(architecture, train, task),
    }
    tensor_shapes(spec)
    return spec


def default_hyperparameters(architecture: str, num_train_rows: int, task: str | None = None) -> dict:
    """The hyperparameters a user gets when they give none (their own values override these key by key).

    Small tables get small batches and more epochs, so the optimizer takes ~1500 steps (ten epochs of
    120 rows in batches of 64 is 20 steps: far too few); larger data keeps batches of 64 and at least ten
    epochs. Images and texts get bounded epoch counts (30 and 20). A regression (`task`) gets the same
    recipe as a classification: it learns standardised targets (see ml.train), and its architecture's lr
    suits them (an mlp at lr 1e-3 reached test R² 0.52 on diabetes and 0.998 on tests' case 21, where the
    1e-2 that raw targets once needed gave 0.41 and 0.99, over three split seeds)."""
    recipe = entry_of(architecture).training
    rows = max(1, int(num_train_rows))
    batch_size = recipe["batch_size"]
    if rows < SMALL_BATCH_ROWS:
        batch_size = recipe.get("small_batch_size", batch_size)
    lr, min_steps, max_epochs = recipe["lr"], recipe["min_steps"], recipe["max_epochs"]
    steps_per_epoch = math.ceil(rows / batch_size)
    epochs = max(10, min(max_epochs, math.ceil(min_steps / steps_per_epoch)))
    return {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": 0.0}


def text_max_len(token_counts, encoded_len: int) -> int:
    """Sequence length for texts with these token counts: enough for 95% of them, at least 8, and never
    more than they were encoded with (the transformer's cost grows with the square of it)."""
    counts = [int(c) for c in token_counts]
    if not counts:
        return encoded_len
    counts.sort()
    p95 = counts[min(len(counts) - 1, math.ceil(0.95 * len(counts)) - 1)]
    return max(1, min(encoded_len, max(8, p95)))
