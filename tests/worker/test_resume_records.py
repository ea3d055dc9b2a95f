"""A worker killed with SIGKILL mid-training: the resumed job's record has every epoch once, counted on what the
server received (a test-only trigger counts every point the metric chunks took in, a step stored again with
another time included, since points are upserted on (job, key, step) and storage alone would hide a
duplicate), and its train_seconds adds up both attempts."""

import re

import pytest
from django.db import connection

from jobs_app import metrics
from jobs_app.models import Job
from models_app.models import ModelVersion
from tests.helpers import builtin_version, submit, wait_finished, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 60  # short epochs (iris), so the kill lands mid-training whatever the load
LOG_EVERY = 2
EPOCH_LINE = re.compile(r"^epoch=(\d+) .*\((\d+\.\d+) s\)$")

# Chunks hold at most 64 points: one row per position in a chunk's packed columns. A point counts as written when
# its chunk row is inserted, or updated with the step new to it or stored again with another time.
_NUMBERS = [
    "CREATE TABLE eco_test_numbers (i integer)",
    "INSERT INTO eco_test_numbers VALUES " + ", ".join(f"({i})" for i in range(64)),
]
_NEW_POINTS = """
    SELECT NEW.job_id, NEW.key, {step}, {op} FROM eco_test_numbers n
    WHERE n.i < NEW.count AND ({is_insert} OR NOT EXISTS (
        SELECT 1 FROM eco_test_numbers m WHERE m.i < OLD.count
          AND substr(OLD.step_bytes, m.i * 8 + 1, 8) = substr(NEW.step_bytes, n.i * 8 + 1, 8)
          AND substr(OLD.time_bytes, m.i * 8 + 1, 8) = substr(NEW.time_bytes, n.i * 8 + 1, 8)))
"""
_POSTGRES = [
    *_NUMBERS,
    "CREATE TABLE eco_test_metric_writes (job_id uuid, key varchar(100), step text, op text)",
    "CREATE FUNCTION eco_test_count_metric_write() RETURNS trigger AS $$ BEGIN INSERT INTO eco_test_metric_writes "
    + _NEW_POINTS.format(
        step="encode(substr(NEW.step_bytes, n.i * 8 + 1, 8), 'hex')", op="TG_OP", is_insert="TG_OP = 'INSERT'"
    )
    + "; RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER eco_test_metric_writes AFTER INSERT OR UPDATE ON jobs_app_metricchunk "
    "FOR EACH ROW EXECUTE FUNCTION eco_test_count_metric_write()",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS eco_test_metric_writes ON jobs_app_metricchunk",
    "DROP FUNCTION IF EXISTS eco_test_count_metric_write()",
    "DROP TABLE IF EXISTS eco_test_metric_writes",
    "DROP TABLE IF EXISTS eco_test_numbers",
]
_SQLITE = [
    *_NUMBERS,
    "CREATE TABLE eco_test_metric_writes (job_id char(32), key varchar(100), step text, op text)",
    "CREATE TRIGGER eco_test_metric_insert AFTER INSERT ON jobs_app_metricchunk FOR EACH ROW BEGIN "
    "INSERT INTO eco_test_metric_writes SELECT NEW.job_id, NEW.key, hex(substr(NEW.step_bytes, n.i * 8 + 1, 8)), "
    "'INSERT' FROM eco_test_numbers n WHERE n.i < NEW.count; END",
    "CREATE TRIGGER eco_test_metric_update AFTER UPDATE ON jobs_app_metricchunk FOR EACH ROW BEGIN "
    "INSERT INTO eco_test_metric_writes "
    + _NEW_POINTS.format(step="hex(substr(NEW.step_bytes, n.i * 8 + 1, 8))", op="'UPDATE'", is_insert="0")
    + "; END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS eco_test_metric_insert",
    "DROP TRIGGER IF EXISTS eco_test_metric_update",
    "DROP TABLE IF EXISTS eco_test_metric_writes",
    "DROP TABLE IF EXISTS eco_test_numbers",
]


@pytest.fixture
def received():
    """Counts of the metric points the server wrote per (key, step) of a job, from a trigger that lives only
    for this test: `received(job_id) -> {(key, step): times written}`."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        for sql in (_POSTGRES_DROP + _POSTGRES) if postgres else (_SQLITE_DROP + _SQLITE):
            cursor.execute(sql)

    def counts(job_id) -> dict[tuple[str, int], int]:
        job = str(job_id) if postgres else str(job_id).replace("-", "")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT key, step, count(*) FROM eco_test_metric_writes WHERE job_id = %s GROUP BY key, step", [job]
            )
            return {(key, int(step, 16)): n for key, step, n in cursor.fetchall()}

    yield counts
    with connection.cursor() as cursor:
        for sql in _POSTGRES_DROP if postgres else _SQLITE_DROP:
            cursor.execute(sql)


def test_a_resumed_job_has_every_epochs_points_and_log_line_once(world, stack, received):
    from tests.helpers import ISOLATED_POOL

    member = world.client("member")
    version_id = builtin_version(member, name="flowers", builtin="iris")
    first = stack.worker(ISOLATED_POOL)
    reaper = second = None
    try:
        job = submit(
            member,
            "train",
            {
                "dataset_version": version_id,
                "model": "survivor",
                "architecture": "mlp",
                "hyperparameters": {"epochs": EPOCHS, "batch_size": 16, "log_every": LOG_EVERY},
            },
            resources={"pool": ISOLATED_POOL},
        )
        wait_for(job["id"], lambda j: j.status == "running" and "epoch-" in j.checkpoint, what="a first checkpoint")
        first.kill()
        reaper = stack.reaper(every=0.5)
        second = stack.worker(ISOLATED_POOL)
        done = wait_finished(job["id"], timeout=300)
    finally:
        for process in (first, second, reaper):
            if process is not None:
                process.stop()
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    params = ModelVersion.objects.get(pk=done.outputs["model_version"]).params
    resumed_after = params["resumed_from_epoch"] + 1  # the last epoch the first attempt checkpointed
    assert 1 <= resumed_after < EPOCHS

    writes = received(done.pk)
    summary_keys = {p[0] for p in metrics.stored_points(done.pk) if p[0].startswith(("val_", "train_"))}
    summary_keys |= {"epoch"}
    assert {"train_loss", "val_accuracy"} <= summary_keys
    # every epoch's summary points: stored once each, and received once each (none lost, none sent twice)
    epoch_steps = dict((int(value), step) for _, step, value, _ in metrics.stored_points(done.pk, "epoch"))
    assert sorted(epoch_steps) == list(range(1, EPOCHS + 1))
    for key in summary_keys:
        stored = sorted(p[1] for p in metrics.stored_points(done.pk, key))
        assert stored == sorted(epoch_steps.values()), key
        assert {step: writes.get((key, step)) for step in stored} == {step: 1 for step in stored}, key
    assert {k for k, _ in writes} >= summary_keys | {"loss", "lr", "samples_per_s"}

    # the step-wise points have no hole; those up to the resumed checkpoint arrived once, and only the steps of
    # the epoch the kill interrupted (sent by the dead attempt, then by the resumed one) may have arrived twice
    last_step, resume_step = epoch_steps[EPOCHS], epoch_steps[resumed_after]
    loss_steps = sorted(p[1] for p in metrics.stored_points(done.pk, "loss"))
    assert loss_steps == list(range(LOG_EVERY, last_step + 1, LOG_EVERY))
    for step in loss_steps:
        times = writes[("loss", step)]
        assert times == 1 or (times == 2 and resume_step < step <= epoch_steps[resumed_after + 1]), (step, times)

    # every epoch's log line once; the first attempt's epochs before the second attempt's
    lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
    epoch_lines = [(i, EPOCH_LINE.match(line)) for i, line in enumerate(lines) if line.startswith("epoch=")]
    assert all(match for _, match in epoch_lines), lines
    assert [int(match[1]) for _, match in epoch_lines] == list(range(1, EPOCHS + 1)), lines
    second_start = next(i for i, line in enumerate(lines) if line.startswith("attempt 2 started"))
    assert all(i < second_start for i, m in epoch_lines if int(m[1]) <= resumed_after)
    assert all(i > second_start for i, m in epoch_lines if int(m[1]) > resumed_after)

    # train_seconds adds up every epoch of both attempts (each line's time is rounded to 0.1 ms)
    seconds = [float(m[2]) for _, m in epoch_lines]
    first_attempt = sum(s for (_, m), s in zip(epoch_lines, seconds, strict=True) if int(m[1]) <= resumed_after)
    assert first_attempt > 0
    assert params["train_seconds"] >= sum(seconds) - 0.001 * EPOCHS
    assert params["train_seconds"] > sum(seconds) - first_attempt
    assert Job.objects.get(pk=done.pk).outputs["train_seconds"] == params["train_seconds"]
