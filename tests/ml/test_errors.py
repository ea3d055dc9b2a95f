"""Every error a user can fix derives from ml.errors.UserError, so the API maps it once and a worker fails the
job with it (no retry) without a hand-kept list of classes."""

import pytest

from datasets_app.processing import StepError
from jobs_app.metrics import PointError
from ml.architectures import SpecError
from ml.artifacts import ArtifactError
from ml.data import DataError
from ml.errors import UserError
from ml.formats import FormatError
from ml.inference import InputError
from ml.optimize import OptimizeError
from ml.runtimes import RuntimeFormatError
from ml.train import HyperparameterError, TrainingError


@pytest.mark.parametrize(
    "error",
    [
        FormatError("the file is empty"),
        StepError("steps[2].column", "no column named 'x'"),
        SpecError("'hidden' must be a list"),
        DataError("the target has missing values"),
        InputError(3, "expected 4 features"),
        ArtifactError("not a safetensors file"),
        OptimizeError("cannot export"),
        HyperparameterError("'lr' must be a number"),
        RuntimeFormatError("unknown model format"),
        PointError("points[0].value", "must be a finite number"),
        TrainingError("the loss is NaN"),
    ],
)
def test_user_errors_share_one_base_and_keep_their_class_under_a_prefix(error):
    assert isinstance(error, UserError) and error.status == 400
    before = error.field
    moved = error.prefixed("spec")
    assert type(moved) is type(error) and moved.message == error.message
    assert moved.field == ("spec" if error.field is None else f"spec.{error.field}")
    assert str(moved) == f"{moved.field}: {error.message}"
    assert error.field == before  # the original is left as it was


def test_input_errors_name_the_input():
    assert InputError(3, "expected 4 features").field == "inputs[3]"
    assert InputError(None, "give a list").field == "inputs"


def test_a_step_error_reaches_the_api_with_its_full_path(world, iris_version):
    response = world.client("member").post(
        "/api/v1/jobs/",
        {"team": "alpha", "kind": "process", "spec": {"dataset_version": str(iris_version.pk), "steps": [{}]}},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["spec.steps[0].op"]
