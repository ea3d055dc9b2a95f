"""The built-in train kind in several processes on a real Celery worker (resources.processes: DistributedDataParallel
over gloo, ml.train.fit_processes): the job holds one slot per process, a rank killed with SIGKILL fails the
attempt, and the retry resumes from the last checkpoint and registers one version."""

import psutil
import pytest

from jobs_app.models import Job
from models_app.models import ModelVersion
from tests.helpers import ISOLATED_POOL, builtin_version, submit, wait_finished, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_processes_on_a_worker_and_a_killed_rank_retried_from_the_checkpoint(world, stack):
    member = world.client("member")
    version_id = builtin_version(member, name="iris", builtin="iris")
    # slowed so that the kill lands between the first checkpoint and the end: 105 train rows, 16 a step
    first = stack.worker(ISOLATED_POOL, ECO_TRAIN_STEP_DELAY_S="0.15")
    try:
        job = submit(
            member,
            "train",
            {
                "dataset_version": version_id,
                "model": "iris-ddp",
                "architecture": "mlp",
                "hyperparameters": {"epochs": 6, "batch_size": 8, "lr": 0.01, "log_every": 1},
            },
            resources={"pool": ISOLATED_POOL, "processes": 2},
            max_retries=2,
        )
        assert Job.objects.get(pk=job["id"]).units == 2
        wait_for(job["id"], lambda j: j.status == "running" and j.checkpoint, what="the first checkpoint", timeout=60)
        children = psutil.Process(first.proc.pid).children(recursive=True)
        ranks = [p for p in children if "ml.distributed" in p.cmdline()]
        assert len(ranks) == 2, [p.cmdline() for p in children]
        ranks[-1].kill()
        done = wait_finished(job["id"], timeout=120)
        assert done.status == "succeeded", done.error
        assert done.attempts == 2
        lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
        assert any("2 processes with DistributedDataParallel (gloo)" in line for line in lines), lines
        assert any("died" in line for line in lines), lines
        assert any(line.startswith("resumed from the checkpoint of epoch") for line in lines), lines
        version = ModelVersion.objects.get(pk=done.outputs["model_version"])
        assert version.params["processes"] == 2 and version.params["resumed_from_epoch"] >= 0
        assert version.params["epochs_run"] < 6 and version.metrics["accuracy"] >= 0.8
        assert ModelVersion.objects.filter(model__name="iris-ddp").count() == 1
    finally:
        first.stop()
