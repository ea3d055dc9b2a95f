"""GET dataset-versions/{id}/stats/: computed from the file the first time, stored on the version, served from
the stored copy afterwards; readable by every team role, a 404 for anyone else."""

from collections import Counter

import numpy as np
import pytest
from sklearn.datasets import load_iris

from datasets_app.models import DatasetVersion
from tests.helpers import csv_file, npz_file


def url(version) -> str:
    return f"/api/v1/dataset-versions/{version.pk}/stats/"


def test_iris_stats_match_the_data_and_are_stored(world, iris_version, django_assert_max_num_queries):
    assert DatasetVersion.objects.get(pk=iris_version.pk).stats is None
    response = world.client("viewer").get(url(iris_version))
    assert response.status_code == 200, response.json()
    body = response.json()
    iris = load_iris()
    assert body["num_rows"] == 150 and len(body["columns"]) == 5
    first = body["columns"][0]
    values = iris.data[:, 0]
    assert (first["name"], first["dtype"], first["count"], first["missing"]) == ("sepal_length_cm", "float64", 150, 0)
    assert (first["min"], first["max"]) == (values.min(), values.max())
    assert first["mean"] == pytest.approx(values.mean()) and first["std"] == pytest.approx(values.std())
    assert first["unique"] == len(np.unique(values)) and first["top"] is None
    assert first["histogram"]["counts"] == np.histogram(values, bins=20)[0].tolist()
    target = body["columns"][-1]
    assert target["name"] == "target" and target["dtype"] == "string" and target["unique"] == 3
    names = Counter(str(iris.target_names[t]) for t in iris.target)
    assert target["top"] == [{"value": v, "count": c} for v, c in sorted(names.items())]  # ties: by value
    assert target["histogram"] is None and target["mean"] is None

    stored = DatasetVersion.objects.get(pk=iris_version.pk).stats
    assert stored == body
    # served from the stored copy (an edited copy is what comes back), in a handful of queries
    DatasetVersion.objects.filter(pk=iris_version.pk).update(stats={**stored, "num_rows": 151})
    client = world.client("member")
    client.get("/api/v1/me/")  # the token's first use writes last_used_at
    with django_assert_max_num_queries(4):
        again = client.get(url(iris_version))
    assert again.status_code == 200 and again.json()["num_rows"] == 151


def test_an_uploaded_csv_with_missing_values_and_an_npz_of_images(world, dataset):
    client = world.client("member")
    text = "x,y,label\n1,,a\n2,NA,b\n3,4.5,a\n,5.5,a\n"
    made = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": csv_file(text), "target": "label"}, format="multipart"
    )
    assert made.status_code == 201, made.json()
    body = client.get(f"/api/v1/dataset-versions/{made.json()['id']}/stats/").json()
    cols = {c["name"]: c for c in body["columns"]}
    assert (cols["x"]["count"], cols["x"]["missing"], cols["x"]["min"], cols["x"]["max"]) == (3, 1, 1, 3)
    assert (cols["y"]["count"], cols["y"]["missing"], cols["y"]["mean"]) == (2, 2, 5.0)
    assert cols["label"]["top"] == [{"value": "a", "count": 3}, {"value": "b", "count": 1}]

    from datasets_app.services import create_dataset

    images = create_dataset(actor=world.users["member"], team=world.alpha, name="pics", task="image-classification")
    pixels = np.random.default_rng(0).random((12, 3, 3))
    upload = npz_file(images=pixels, label=np.array(["cat", "dog", "cat"] * 4))
    made = client.post(
        f"/api/v1/datasets/{images.pk}/versions/", {"file": upload, "target": "label"}, format="multipart"
    )
    assert made.status_code == 201, made.json()
    body = client.get(f"/api/v1/dataset-versions/{made.json()['id']}/stats/").json()
    cols = {c["name"]: c for c in body["columns"]}
    assert (cols["images"]["count"], cols["images"]["missing"], cols["images"]["histogram"]) == (12, 0, None)
    assert cols["label"]["top"] == [{"value": "cat", "count": 8}, {"value": "dog", "count": 4}]


def test_every_team_role_reads_them_and_nobody_else(world, iris_version, anon):
    for role in ("viewer", "member", "maintainer", "admin"):
        assert world.client(role).get(url(iris_version)).status_code == 200, role
    outsider = world.client("outsider").get(url(iris_version))
    assert outsider.status_code == 404 and outsider.json()["code"] == "not_found"
    assert anon.get(url(iris_version)).status_code == 401
    missing = world.client("admin").get("/api/v1/dataset-versions/00000000-0000-0000-0000-000000000000/stats/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert world.client("admin").post(url(iris_version), {}, format="json").status_code == 405
    assert DatasetVersion.objects.get(pk=iris_version.pk).stats is not None  # computed once, by the first reader


def test_version_lists_do_not_load_the_stored_stats(world, iris_version):
    """Stats may be large (a wide file): list and detail answers leave the column out."""
    world.client("viewer").get(url(iris_version))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = world.client("viewer").get(f"/api/v1/datasets/{iris_version.dataset_id}/versions/")
    assert response.status_code == 200 and "stats" not in response.json()["results"][0]
    version_queries = [q["sql"] for q in ctx.captured_queries if 'FROM "datasets_app_datasetversion"' in q["sql"]]
    assert version_queries and not any('"stats"' in sql for sql in version_queries)
