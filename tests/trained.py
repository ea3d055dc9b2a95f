"""A model version trained by the real pipeline (so its spec carries preprocessing), registered the way a
train job registers it, with no worker: serving, gates and feedback need nothing more."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files import File
from sklearn.datasets import load_iris

from ml.artifacts import save_weights
from ml.pipeline import train
from ml.train import NullReporter


def iris_columns() -> dict:
    """Iris in the column layout of the builtin CSV (the same names the `iris_version` fixture holds)."""
    from datasets_app.bundled import _column

    bunch = load_iris()
    columns = {_column(name): bunch.data[:, i] for i, name in enumerate(bunch.feature_names)}
    columns["target"] = np.array([bunch.target_names[t] for t in bunch.target], dtype=object)
    return columns


def register_trained(*, actor, model, dataset_version, epochs: int = 30, seed: int = 0):
    from models_app.services import register_version

    outcome = train(
        iris_columns(),
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": epochs, "seed": seed},
        reporter=NullReporter(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.safetensors"
        save_weights(outcome.model, path)
        with open(path, "rb") as fh:
            return register_version(
                actor=actor,
                model=model,
                weights_path=path,
                weights=File(fh, name="weights.safetensors"),
                spec=outcome.spec,
                metrics=outcome.metrics,
                params={"split": outcome.split},
                dataset_versions=[dataset_version],
            )


@pytest.fixture
def trained(world, model, iris_version):
    """flower-clf v1, trained on iris, with `production` pointing at it (no gate yet)."""
    from models_app.services import set_alias

    version = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version)
    set_alias(actor=world.users["member"], model=model, alias="production", version=version)
    return version


@pytest.fixture(autouse=True)
def _empty_serving_cache():
    from models_app.serving import cache

    cache.clear()
    yield
    cache.clear()
