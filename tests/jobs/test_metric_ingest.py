"""How points are written: client timestamps, appends to stored chunks and merges into them, each chunk's count,
ends and extremes kept exact by both."""

import random
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs_app import metrics
from jobs_app.models import CHUNK_STEPS, Job, MetricBatch, MetricChunk


@pytest.fixture
def job(world):
    return Job.objects.create(
        team=world.alpha, kind="tracking", status="running", spec={}, created_by=world.users["member"]
    )


def _post(client, job, points):
    return client.post(f"/api/v1/jobs/{job.pk}/metrics/", {"points": points}, format="json")


def test_a_points_time_is_the_clients_and_defaults_to_the_servers(world, job):
    before = time.time()
    answer = _post(
        world.client("member"),
        job,
        [
            {"key": "loss", "step": 0, "value": 1.0, "time": 1_700_000_000.25},
            {"key": "loss", "step": 1, "value": 0.5, "time": 1_700_000_001},
            {"key": "loss", "step": 2, "value": 0.25},
        ],
    )
    after = time.time()
    assert answer.status_code == 200 and answer.json()["written"] == 3
    stored = {step: at for _, step, _, at in metrics.stored_points(job.pk)}
    assert stored[0] == datetime.fromtimestamp(1_700_000_000.25, UTC)
    assert stored[1] == datetime.fromtimestamp(1_700_000_001, UTC)
    assert before - 1 <= stored[2].timestamp() <= after + 1
    times = world.client("member").get(f"/api/v1/jobs/{job.pk}/metrics/?key=loss").json()["times"]
    assert times[:2] == [1_700_000_000.25, 1_700_000_001.0]


def test_a_sent_again_point_takes_its_new_time(world, job):
    client = world.client("member")
    _post(client, job, [{"key": "loss", "step": 0, "value": 1.0, "time": 1_700_000_000}])
    again = _post(client, job, [{"key": "loss", "step": 0, "value": 2.0, "time": 1_700_000_100}])
    assert again.json()["written"] == 1
    ((_, _, value, at),) = metrics.stored_points(job.pk)
    assert (value, at.timestamp()) == (2.0, 1_700_000_100)


@pytest.mark.parametrize(
    "when",
    [
        946_684_799.999,  # a millisecond before 2000-01-01
        -1,
        0,
        "1700000000",
        True,
        None,
        [1_700_000_000],
        10**30,
        "tomorrow",
    ],
)
def test_a_bad_time_is_400_naming_the_point_and_nothing_is_written(world, job, when):
    points = [{"key": "loss", "step": 0, "value": 1.0}, {"key": "loss", "step": 1, "value": 1.0, "time": when}]
    response = _post(world.client("member"), job, points)
    assert response.status_code == 400
    assert "points[1].time" in response.json()["errors"], response.json()
    assert not MetricChunk.objects.filter(job=job).exists()


def test_a_time_more_than_a_day_ahead_is_refused_and_one_within_it_is_kept(world, job):
    client = world.client("member")
    late = _post(client, job, [{"key": "loss", "step": 0, "value": 1.0, "time": time.time() + 86_400 + 120}])
    assert late.status_code == 400 and "points[0].time" in late.json()["errors"]
    ahead = time.time() + 86_400 - 120
    assert _post(client, job, [{"key": "loss", "step": 0, "value": 1.0, "time": ahead}]).status_code == 200
    assert _post(client, job, [{"key": "loss", "step": 1, "value": 1.0, "time": 946_684_800}]).status_code == 200


def test_an_unknown_field_beside_time_is_still_400(world, job):
    points = [{"key": "loss", "step": 0, "value": 1.0, "time": 1_700_000_000, "unit": "s"}]
    response = _post(world.client("member"), job, points)
    assert response.status_code == 400 and "points[0].unit" in response.json()["errors"]


def test_check_points_keeps_time_only_where_given():
    checked = metrics.check_points(
        [{"key": "a", "step": 1, "value": 1}, {"key": "a", "step": 2, "value": 2.5, "time": 1_700_000_000}]
    )
    assert checked == [("a", 1, 1.0), ("a", 2, 2.5, 1_700_000_000.0)]


@pytest.mark.parametrize("number", [b"1" + b"0" * 400, b"1e400", b"-1e400"])
def test_a_number_beyond_a_double_is_named_by_the_point_check(world, job, number):
    """orjson refuses a number beyond a double; the standard parser then reads the body, so the answer names
    the point as for any other bad value."""
    body = b'{"points": [{"key": "loss", "step": 1, "value": ' + number + b"}]}"
    response = world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", body, content_type="application/json")
    assert response.status_code == 400 and "points[0].value" in response.json()["errors"], response.json()
    assert not MetricChunk.objects.exists()


@pytest.mark.parametrize("body", [b'{"points": [', b'{"points": [NaN]}', b"\xff"])
def test_a_body_neither_parser_reads_is_400(world, job, body):
    response = world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error", response.json()


def test_keys_with_separators_are_stored_as_sent(job):
    """The worker's own writes do not pass check_points: a key with a backslash, a tab or a newline must still
    land in its own series, never spill into another."""
    keys = ["back\\slash", "tab\there", "new\nline", "cr\rx", "\\N"]
    metrics.ingest(job.pk, [(k, 1, float(i)) for i, k in enumerate(keys)])
    assert {key: value for key, _, value, _ in metrics.stored_points(job.pk)} == {
        k: float(i) for i, k in enumerate(keys)
    }


_SUMMARY = ("count", "first_step", "last_step", "last_value", "min_step", "min_value", "max_step", "max_value")


def _chunks(job) -> dict:
    return {(c.key, c.block): c for c in MetricChunk.objects.filter(job=job)}


def test_chunks_stay_exact_over_appended_replaced_and_interleaved_batches(job):
    """Appends, overlaps and interleavings in any mix: each chunk's points are the last value sent at each step,
    in step order, and its count, ends and extremes (the earliest step on ties) are what a recount of those
    points gives."""
    rng = random.Random(7)
    expected: dict[tuple[str, int], float] = {}
    for _ in range(40):
        start = rng.randrange(0, 600)
        steps = rng.sample(range(start, start + 300), rng.randrange(1, 120))
        if rng.random() < 0.5:
            steps.sort()  # in order, as a training loop sends them: mostly appends
        key = rng.choice(["loss", "acc"])
        # a few ties, so the earliest step holding an extreme must be the one named
        batch = [(key, s, float(rng.choice([-1, 0, 1, rng.random()]))) for s in steps]
        metrics.ingest(job.pk, batch)
        expected.update({(k, s): v for k, s, v in batch})
    stored = metrics.stored_points(job.pk)
    assert [(k, s, v) for k, s, v, _ in stored] == sorted((k, s, v) for (k, s), v in expected.items())
    recount = {(c.key, c.block): c for c in metrics.chunk_rows(job.pk, [p[:3] for p in stored])}
    found = _chunks(job)
    assert found.keys() == recount.keys()
    for pair, chunk in found.items():
        assert [getattr(chunk, f) for f in _SUMMARY] == [getattr(recount[pair], f) for f in _SUMMARY], pair


def test_a_chunk_is_appended_to_when_its_new_steps_come_after_the_stored_ones(job):
    metrics.ingest(job.pk, [("loss", s, float(s)) for s in range(10)])
    metrics.ingest(job.pk, [("loss", s, -1.0 if s == 12 else 100.0) for s in range(10, 70)])
    first, second = sorted(_chunks(job).values(), key=lambda c: c.block)
    assert [getattr(first, f) for f in _SUMMARY] == [CHUNK_STEPS, 0, 63, 100.0, 12, -1.0, 10, 100.0]
    assert [getattr(second, f) for f in _SUMMARY] == [6, 64, 69, 100.0, 64, 100.0, 64, 100.0]
    assert [s for _, s, _, _ in metrics.stored_points(job.pk)] == list(range(70))


def test_a_batch_with_repeated_steps_keeps_the_last(job):
    written = metrics.ingest(job.pk, [("loss", 1, 1.0), ("loss", 1, 2.0), ("loss", 2, 3.0)])
    assert written == 2
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk)] == [(1, 2.0), (2, 3.0)]


# --- check_batch: the column-wise check of a plain request, against check_points' point-by-point rule ---------

_PLAIN_CASES = [
    [{"key": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(5)],
    [{"key": k, "step": s, "value": s, "time": 1_700_000_000 + s / 3} for s in range(4) for k in ("b", "a")],
    [{"key": "loss", "step": 3, "value": 1.0}, {"key": "loss", "step": 3, "value": 2.0}],  # the last one wins
    [{"key": "e\u0301", "step": 1, "value": 1.0}, {"key": "\u00e9", "step": 1, "value": 2.0}],  # one key in NFC
    [{"key": "loss", "step": 2**63 - 1, "value": 10**30}, {"key": "x", "step": 0, "value": -0.0}],
    [{"key": "a", "step": 1, "value": 1.0}, {"key": "a", "step": 2, "value": 2.0, "time": 1_700_000_000}],
]


@pytest.mark.parametrize("points", _PLAIN_CASES)
def test_check_batch_keeps_what_check_points_keeps(points):
    assert metrics.check_batch(points).tuples() == sorted(metrics.check_points(points))


@pytest.mark.parametrize("points", [_PLAIN_CASES[i] for i in (0, 1, 2, 4)])
def test_a_plain_request_is_checked_column_by_column(points):
    """The common request never reaches the point-by-point loop (the ingest hot path)."""
    found = metrics._batch_of_plain_points(points)
    assert found is not None and found.tuples() == sorted(metrics.check_points(points))


_BAD_POINTS = [
    ({"key": "loss", "step": True, "value": 1.0}, "points[1].step"),
    ({"key": "loss", "step": -1, "value": 1.0}, "points[1].step"),
    ({"key": "loss", "step": 2**63, "value": 1.0}, "points[1].step"),
    ({"key": "loss", "step": 1.0, "value": 1.0}, "points[1].step"),
    ({"key": "loss", "step": 1, "value": "1.0"}, "points[1].value"),
    ({"key": "loss", "step": 1, "value": False}, "points[1].value"),
    ({"key": "loss", "step": 1, "value": 10**400}, "points[1].value"),
    ({"key": "loss", "step": 1, "value": float("nan")}, "points[1].value"),
    ({"key": "", "step": 1, "value": 1.0}, "points[1].key"),
    ({"key": "x" * 101, "step": 1, "value": 1.0}, "points[1].key"),
    ({"key": "tab\there", "step": 1, "value": 1.0}, "points[1].key"),
    ({"key": ["loss"], "step": 1, "value": 1.0}, "points[1].key"),
    ({"key": "loss", "step": 1, "value": 1.0, "unit": "s"}, "points[1].unit"),
    ({"key": "loss", "step": 1, "unit": 1.0}, "points[1].value"),
]


@pytest.mark.parametrize(("bad", "field"), _BAD_POINTS)
def test_check_batch_names_the_bad_point_as_check_points_does(bad, field):
    points = [{"key": "loss", "step": 0, "value": 1.0}, bad, {"key": "loss", "step": 2, "value": 1.0}]
    with pytest.raises(metrics.PointError) as error:
        metrics.check_batch(points)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("time", "ok"), [(1_700_000_000.5, True), (946_684_799.0, False), ("1700000000", False), (True, False)]
)
def test_check_batch_checks_every_points_time(time, ok):
    points = [{"key": "loss", "step": s, "value": 1.0, "time": 1_700_000_000 if s else time} for s in range(3)]
    if ok:
        assert metrics.check_batch(points).times[0] == time
        return
    with pytest.raises(metrics.PointError) as error:
        metrics.check_batch(points)
    assert error.value.field == "points[0].time"


def test_a_batch_that_meets_stored_points_is_merged_once_over_the_api(world, job):
    """A batch that meets stored points is merged into their chunk: values replaced, new steps added, its
    batch id recorded once, the chunk's count and extremes recounted."""
    member = world.client("member")
    first = {"points": [{"key": "loss", "step": s, "value": float(s)} for s in range(0, 10)], "batch_id": "one"}
    assert member.post(f"/api/v1/jobs/{job.pk}/metrics/", first, format="json").json()["written"] == 10
    overlap = [{"key": "loss", "step": s, "value": -float(s)} for s in range(5, 15)]
    body = {"points": overlap, "batch_id": "two"}
    answer = member.post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json").json()
    assert answer == {"job": str(job.pk), "received": 10, "written": 10, "duplicate": False}
    stored = {s: v for _, s, v, _ in metrics.stored_points(job.pk)}
    assert stored == {**{s: float(s) for s in range(5)}, **{s: -float(s) for s in range(5, 15)}}
    assert sorted(MetricBatch.objects.filter(job=job).values_list("batch_id", flat=True)) == ["one", "two"]
    again = member.post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json").json()
    assert again["duplicate"] is True and again["written"] == 0
    (chunk,) = MetricChunk.objects.filter(job=job)
    assert [getattr(chunk, f) for f in _SUMMARY] == [15, 0, 14, -14.0, 14, -14.0, 4, 4.0]


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("viewer", 403), ("member", 400)])
def test_a_malformed_batch_answers_404_and_403_before_400(world, job, who, status):
    """The body is checked before the database is asked, yet a caller who may not see the job or write to it
    learns that first, never what is wrong with a body it could not send anyway."""
    response = _post(world.client(who), job, [{"key": "loss", "step": -1, "value": 1.0}])
    assert response.status_code == status, response.json()
    assert not MetricChunk.objects.exists()


# --- series: the columnar form of a batch, as the tracking client sends it ----------------------------------


def _as_series(points: list[dict]) -> list[dict]:
    """The points as series, one per run of points with one key (so a key may come back later, as sent)."""
    series: list[dict] = []
    for p in points:
        if not series or series[-1]["key"] != p["key"] or ("times" in series[-1]) != ("time" in p):
            series.append({"key": p["key"], "steps": [], "values": [], **({"times": []} if "time" in p else {})})
        series[-1]["steps"].append(p["step"])
        series[-1]["values"].append(p["value"])
        if "time" in p:
            series[-1]["times"].append(p["time"])
    return series


@pytest.mark.parametrize("points", _PLAIN_CASES)
def test_series_keep_what_the_same_points_keep(points):
    assert metrics.check_series(_as_series(points)).tuples() == sorted(metrics.check_points(points))


def test_a_series_body_is_stored_like_its_points_and_counted(world, job):
    points = [{"key": k, "step": s, "value": s / 10, "time": 1_700_000_000 + s} for s in range(100) for k in "ab"]
    body = {"series": _as_series(sorted(points, key=lambda p: p["key"])), "batch_id": "columns"}
    answer = world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json").json()
    assert answer == {"job": str(job.pk), "received": 200, "written": 200, "duplicate": False}
    stored = [(k, s, v, t.timestamp()) for k, s, v, t in metrics.stored_points(job.pk)]
    assert stored == sorted((p["key"], p["step"], p["value"], float(p["time"])) for p in points)


_BAD_SERIES = [
    ([{"key": "loss", "steps": [0, 1], "values": [1.0]}], "series[0].values"),
    ([{"key": "loss", "steps": [0], "values": [1.0], "times": []}], "series[0].times"),
    ([{"key": "loss", "steps": "0", "values": [1.0]}], "series[0].steps"),
    ([{"key": "loss", "steps": [0, True], "values": [1.0, 2.0]}], "series[0].steps[1]"),
    ([{"key": "loss", "steps": [0, -1], "values": [1.0, 2.0]}], "series[0].steps[1]"),
    ([{"key": "loss", "steps": [2**63], "values": [1.0]}], "series[0].steps[0]"),
    ([{"key": "loss", "steps": [0, 1], "values": [1.0, "2"]}], "series[0].values[1]"),
    ([{"key": "loss", "steps": [0], "values": [10**400]}], "series[0].values[0]"),
    ([{"key": "loss", "steps": [0], "values": [1.0], "times": [946_684_799]}], "series[0].times[0]"),
    ([{"key": "loss", "steps": [0], "values": [1.0], "times": None}], "series[0].times"),
    ([{"key": "ok", "steps": [], "values": []}, {"key": "tab\there", "steps": [0], "values": [1.0]}], "series[1].key"),
    ([{"key": "loss", "steps": [0], "values": [1.0], "unit": "s"}], "series[0].unit"),
    ([["loss", [0], [1.0]]], "series[0]"),
    ({"loss": {"steps": [0], "values": [1.0]}}, "series"),
]


@pytest.mark.parametrize(("series", "field"), _BAD_SERIES)
def test_a_bad_series_is_400_naming_the_field_and_nothing_is_written(world, job, series, field):
    body = {"series": [{"key": "fine", "steps": [0], "values": [1.0]}, *series] if type(series) is list else series}
    if type(series) is list:  # the good series first: the bad one's place shifts by one
        field = field.replace("series[1]", "series[2]").replace("series[0]", "series[1]")
    response = world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not MetricChunk.objects.exists()


@pytest.mark.parametrize("body", [{}, {"points": [], "series": []}, {"batch_id": "x"}])
def test_a_body_without_points_or_with_both_forms_is_400(world, job, body):
    response = world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json")
    assert response.status_code == 400 and "points" in response.json()["errors"], response.json()


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("viewer", 403), ("member", 400)])
def test_a_malformed_series_answers_404_and_403_before_400(world, job, who, status):
    body = {"series": [{"key": "loss", "steps": [-1], "values": [1.0]}]}
    response = world.client(who).post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json")
    assert response.status_code == status, response.json()


def test_ingest_takes_the_job_id_as_a_string_too(job):
    assert metrics.ingest(str(job.pk), [("loss", 1, 1.0)]) == 1
    assert metrics.ingest(str(job.pk), [("loss", 0, 2.0)]) == 1  # merged into the stored chunk
    assert [p[1:3] for p in metrics.stored_points(job.pk)] == [(0, 2.0), (1, 1.0)]


def test_a_merge_reads_only_the_chunks_it_touches(job):
    """A batch that overlaps two far-apart chunks of two series reads those two chunks, not the blocks between."""
    metrics.ingest(job.pk, [("a", s, 1.0) for s in range(0, 64 * 200, 7)] + [("b", 64 * 150, 1.0)])
    with CaptureQueriesContext(connection) as queries:
        metrics.ingest(job.pk, [("a", 0, 5.0), ("b", 64 * 150, 6.0)])
    (read,) = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert read.count('"key" =') == 2, read
    assert {(k, s): v for k, s, v, _ in metrics.stored_points(job.pk) if (k, s) in {("a", 0), ("b", 9600)}} == {
        ("a", 0): 5.0,
        ("b", 9600): 6.0,
    }


def test_nan_is_stored_but_never_a_chunk_s_extreme(job):
    """MLflow's protocol stores NaN and infinite values (metrics.ingest of a history): PostgreSQL orders NaN above
    every number, yet a chunk's low and high, appended to or merged into, and the summaries skip a NaN; a series
    reads it as None (Eco's JSON has no NaN), or raw for MLflow's protocol."""
    nan = float("nan")
    at = 1_700_000_000.0
    metrics.ingest(job.pk, [("loss", 0, 2.0, at), ("loss", 1, nan, at), ("loss", 2, 0.5, at)], keep_all=True)
    metrics.ingest(job.pk, [("loss", 3, nan, at), ("loss", 4, 3.0, at)], keep_all=True)  # appended to the chunk
    metrics.ingest(job.pk, [("loss", 1, nan, at), ("loss", 2, 0.1, at + 1)], keep_all=True)  # merged; a NaN again
    chunk = MetricChunk.objects.get(job=job, key="loss")
    assert (chunk.min_value, chunk.min_step, chunk.max_value, chunk.max_step) == (0.1, 2, 3.0, 4)
    assert chunk.count == 6  # the NaN sent twice at step 1 is one point
    metrics.ingest(job.pk, [("gap", 0, nan, at), ("gap", 1, nan, at)], keep_all=True)
    metrics.ingest(job.pk, [("gap", 2, 1.0, at)], keep_all=True)  # a number beats an all-NaN chunk's extremes
    gap = MetricChunk.objects.get(job=job, key="gap")
    assert (gap.min_value, gap.max_value, gap.max_step) == (1.0, 1.0, 2)
    summary = metrics.summaries([job])[str(job.pk)]
    assert (summary["loss"]["min"], summary["loss"]["max"], summary["loss"]["last"]) == (0.1, 3.0, 3.0)
    answer = metrics.series(job.pk, "loss")
    assert [v for _, v in answer["points"]] == [2.0, None, 0.5, 0.1, None, 3.0]
    raw = metrics.series(job.pk, "loss", raw=True)
    assert [v != v for _, v in raw["points"]] == [False, True, False, False, True, False]
    # a min/max selection keeps a bucket's numbers, not its NaN
    steps, values = metrics.downsample(np.arange(4), np.array([nan, 1.0, nan, 2.0]), 1)
    assert steps.tolist() == [1, 3] and values.tolist() == [1.0, 2.0]


def test_a_long_stretch_of_nan_reads_downsampled(job):
    """A diverged loss that stays NaN for many chunks: the min/max read keeps one NaN per bucket of them (None in
    Eco's JSON) and the numbers' extremes elsewhere; every kept point's time is found (NaN equals NaN there)."""
    nan = float("nan")
    at = 1_700_000_000.0
    points = [("loss", s, 1.0 / (s + 1) if s < 5_000 or s >= 15_000 else nan, at + s) for s in range(20_000)]
    metrics.ingest(job.pk, points, keep_all=True)
    answer = metrics.series(job.pk, "loss", max_points=100)
    assert answer["downsampled"] and answer["count"] == 20_000
    values = [v for _, v in answer["points"]]
    assert None in values and min(v for v in values if v is not None) == 1.0 / 20_000
    assert len(answer["times"]) == len(values)
    raw = metrics.series(job.pk, "loss", max_points=100, raw=True)
    assert any(v != v for _, v in raw["points"])
