"""An unchanged MLflow training script logs to Eco: experiments, runs, params, tags, every metric point
(several values at one step, the default step 0, the client's timestamps), inputs, searches; and the same run
read back through Eco's own API. Errors come back in MLflow's format with MLflow's codes."""

import uuid

import numpy as np
import pytest
from rest_framework.test import APIClient

from jobs_app import metrics
from jobs_app.models import Experiment, Job
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.mlflow.conftest import use_token


def train_script(mlflow, experiment: str) -> str:
    """What a team's script does today: a scikit-learn model trained with mlflow.log_* calls throughout."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="sgd-iris") as run:
        mlflow.log_params({"alpha": 0.001, "loss": "log_loss", "epochs": 5})
        mlflow.set_tags({"stage": "dev", "owner": "ada"})
        model = SGDClassifier(alpha=0.001, loss="log_loss", random_state=0)
        for epoch in range(5):
            model.partial_fit(x_train, y_train, classes=np.unique(y))
            mlflow.log_metrics({"train_acc": model.score(x_train, y_train)}, step=epoch)
            mlflow.log_metric("test_acc", model.score(x_test, y_test), step=epoch)
        mlflow.log_metric("lr", 0.1)  # no step: MLflow's default step 0
        mlflow.log_metric("lr", 0.05)  # again at step 0: both are kept
        mlflow.log_input(mlflow.data.from_numpy(x_train, name="iris-train", source="file:///data/iris.npy"), "training")
        return run.info.run_id


def test_an_unchanged_script_logs_every_point_to_eco(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    token = use_token(monkeypatch, ada)
    run_id = train_script(mlflow, "iris")
    client = MlflowClient()

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "sgd-iris"
    assert run.info.user_id == "ada"
    assert run.data.params == {"alpha": "0.001", "loss": "log_loss", "epochs": "5"}
    assert run.data.tags["stage"] == "dev" and run.data.tags["owner"] == "ada"
    assert run.data.tags["mlflow.runName"] == "sgd-iris"  # the client's own tags are kept
    assert run.data.metrics["lr"] == 0.05  # the latest at the highest step
    assert run.inputs.dataset_inputs[0].dataset.name == "iris-train"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "alpha/iris"  # team/name: which team is plain to a user of several

    history = client.get_metric_history(run_id, "lr")
    assert [(m.step, m.value) for m in history] == [(0, 0.1), (0, 0.05)]  # two values at one step, in time order
    assert history[0].timestamp <= history[1].timestamp
    accuracy = client.get_metric_history(run_id, "train_acc")
    assert [m.step for m in accuracy] == [0, 1, 2, 3, 4]

    # the same run is an Eco tracking job: its points are in Eco's metric store, read through Eco's API
    job = Job.objects.get(pk=run_id)
    assert job.kind == "tracking" and job.status == "succeeded" and job.experiment.name == "iris"
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk, "lr")] == [(0, 0.1), (0, 0.05)]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    eco = api.get(f"/api/v1/jobs/{job.pk}/metrics/", {"key": "test_acc"})
    assert eco.status_code == 200 and len(eco.json()["points"]) == 5


def test_search_runs_filters_and_orders_as_mlflow_does(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    token = use_token(monkeypatch, ada)
    mlflow.set_experiment("sweep")
    for lr, loss, optimizer in ((0.1, 0.9, "sgd"), (0.01, 0.3, "adam"), (0.001, 0.5, "adam"), (0.05, 0.2, "sgd")):
        with mlflow.start_run(run_name=f"lr-{lr}"):
            mlflow.log_params({"lr": lr, "optimizer": optimizer})
            mlflow.set_tag("team", "a" if optimizer == "adam" else "b")
            mlflow.log_metric("loss", loss + 1, step=0)
            mlflow.log_metric("loss", loss, step=1)  # the latest value is what filters and orders compare
    client = MlflowClient()
    experiment_id = client.get_experiment_by_name("sweep").experiment_id

    found = client.search_runs([experiment_id], "metrics.loss < 0.6", order_by=["metrics.loss DESC"])
    assert [r.info.run_name for r in found] == ["lr-0.001", "lr-0.01", "lr-0.05"]
    found = client.search_runs(
        [experiment_id], "params.optimizer = 'adam' and tags.team = 'a'", order_by=["metrics.loss ASC"]
    )
    assert [r.info.run_name for r in found] == ["lr-0.01", "lr-0.001"]
    found = client.search_runs([experiment_id], "attributes.run_name LIKE 'lr-0.0%'", order_by=["params.lr"])
    assert [r.info.run_name for r in found] == ["lr-0.001", "lr-0.01", "lr-0.05"]
    # pages: two at a time, the token of the last page is absent
    first = client.search_runs([experiment_id], "", order_by=["metrics.loss ASC"], max_results=2)
    second = client.search_runs(
        [experiment_id], "", order_by=["metrics.loss ASC"], max_results=2, page_token=first.token
    )
    assert [r.info.run_name for r in first + second] == ["lr-0.05", "lr-0.01", "lr-0.001", "lr-0.1"]
    assert first.token and not second.token
    assert len(mlflow.search_runs([experiment_id])) == 4  # the fluent search pages until the end

    # a deleted run leaves active searches and comes back when restored
    gone = found[0].info.run_id
    client.delete_run(gone)
    assert gone not in {r.info.run_id for r in client.search_runs([experiment_id])}
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    eco = APIClient()
    eco.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert eco.get(f"/api/v1/jobs/{gone}/").status_code == 404  # a deleted run is gone from Eco's API too
    listed = [j["id"] for j in eco.get("/api/v1/jobs/", {"kind": "tracking"}).json()["results"]]
    assert len(listed) == 3 and str(uuid.UUID(gone)) not in listed
    client.restore_run(gone)
    assert gone in {r.info.run_id for r in client.search_runs([experiment_id])}

    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as refused:
        client.search_runs([experiment_id], "metrics.loss < 1 OR params.lr = '0.1'")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE" and "AND only" in refused.value.message


def test_experiments_create_rename_delete_restore(mlflow_env, ada, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    use_token(monkeypatch, ada)
    client = MlflowClient()
    experiment_id = client.create_experiment("churn", tags={"area": "retention"})
    with pytest.raises(MlflowException) as twice:
        client.create_experiment("churn")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.rename_experiment(experiment_id, "churn-v2")
    client.set_experiment_tag(experiment_id, "owner", "ada")
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "alpha/churn-v2" and experiment.tags == {"area": "retention", "owner": "ada"}
    assert client.get_experiment_by_name("churn-v2").experiment_id == experiment_id
    assert client.get_experiment_by_name("alpha/churn-v2").experiment_id == experiment_id
    assert client.get_experiment_by_name("nope") is None  # RESOURCE_DOES_NOT_EXIST, as the client expects
    names = {e.name for e in client.search_experiments()}
    assert names == {"alpha/Default", "alpha/churn-v2"}  # every team has its default experiment
    assert [e.name for e in client.search_experiments(filter_string="name LIKE 'churn%'")] == ["alpha/churn-v2"]

    # deleting needs the maintainer role: ada is a member
    with pytest.raises(MlflowException) as denied:
        client.delete_experiment(experiment_id)
    assert denied.value.error_code == "PERMISSION_DENIED" and "maintainer" in denied.value.message
    assert Experiment.objects.get(pk=experiment_id).lifecycle_stage == "active"
    boss = UserFactory(username="boss")
    MembershipFactory(team=ada.memberships.get().team, user=boss, role="maintainer")
    use_token(monkeypatch, boss)
    client = MlflowClient()
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert {e.name for e in client.search_experiments()} == {"alpha/Default"}
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_a_run_without_an_experiment_goes_to_the_team_default(mlflow_env, ada, monkeypatch):
    import mlflow

    use_token(monkeypatch, ada)
    with mlflow.start_run() as run:  # experiment "0": MLflow's default
        mlflow.log_metric("x", 1.0)
    job = Job.objects.get(pk=run.info.run_id)
    assert job.experiment.name == "Default" and job.experiment.team.slug == "alpha"


def test_a_user_of_several_teams_is_told_to_name_one(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    MembershipFactory(team=TeamFactory(slug="beta"), user=ada, role="member")
    use_token(monkeypatch, ada)
    with pytest.raises(MlflowException) as unclear:
        mlflow.start_run()
    assert unclear.value.error_code == "INVALID_PARAMETER_VALUE" and "team/Default" in unclear.value.message
    mlflow.set_experiment("beta/Default")
    with mlflow.start_run() as run:
        pass
    assert Job.objects.get(pk=run.info.run_id).team.slug == "beta"


def test_outsiders_and_viewers_get_mlflow_errors_and_change_nothing(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    use_token(monkeypatch, ada)
    mlflow.set_experiment("private")
    with mlflow.start_run() as run:
        mlflow.log_param("seed", 1)
    run_id, experiment_id = run.info.run_id, run.info.experiment_id

    outsider = UserFactory(username="eve")
    MembershipFactory(team=TeamFactory(slug="other"), user=outsider, role="admin")
    use_token(monkeypatch, outsider)
    client = MlflowClient()
    for call in (
        lambda: client.get_run(run_id),
        lambda: client.get_experiment(experiment_id),
        lambda: client.log_param(run_id, "seed", 2),
        lambda: client.set_tag(run_id, "x", "y"),
        lambda: client.delete_run(run_id),
        lambda: client.get_metric_history(run_id, "loss"),
    ):
        with pytest.raises(MlflowException) as hidden:
            call()
        assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST", hidden.value.message
        assert "alpha" not in hidden.value.message
    assert client.get_experiment_by_name("alpha/private") is None

    viewer = UserFactory(username="vic")
    MembershipFactory(team=ada.memberships.get().team, user=viewer, role="viewer")
    use_token(monkeypatch, viewer)
    client = MlflowClient()
    assert client.get_run(run_id).data.params == {"seed": "1"}  # a viewer reads
    for call in (
        lambda: client.log_param(run_id, "seed", 2),
        lambda: client.log_metric(run_id, "loss", 1.0),
        lambda: client.create_run(experiment_id),
        lambda: client.delete_run(run_id),
    ):
        with pytest.raises(MlflowException) as denied:
            call()
        assert denied.value.error_code == "PERMISSION_DENIED", denied.value.message
    job = Job.objects.get(pk=run_id)
    assert job.spec["params"] == {"seed": "1"} and job.deleted_at is None
    assert Job.objects.filter(team__slug="alpha").count() == 1
    assert metrics.keys(job.pk) == []


def test_bad_input_is_refused_by_name_and_writes_nothing(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    use_token(monkeypatch, ada)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
    client = MlflowClient()
    cases = [
        (lambda: client.log_param(run.info.run_id, "lr", 0.2), "INVALID_PARAMETER_VALUE", "lr"),
        (lambda: client.log_metric(run.info.run_id, "loss", 1.0, step=-1), "INVALID_PARAMETER_VALUE", "step"),
        (lambda: client.get_run("0" * 32), "RESOURCE_DOES_NOT_EXIST", "not found"),
        (lambda: client.get_experiment("999999"), "RESOURCE_DOES_NOT_EXIST", "999999"),
    ]
    for call, code, words in cases:
        with pytest.raises(MlflowException) as refused:
            call()
        assert refused.value.error_code == code and words in refused.value.message, refused.value.message
    # a batch with one bad metric writes none of it
    with pytest.raises(MlflowException):
        client.log_batch(
            run.info.run_id,
            metrics=[mlflow.entities.Metric("ok", 1.0, 1_700_000_000_000, 1), mlflow.entities.Metric("", 2.0, 0, 1)],
            params=[mlflow.entities.Param("new", "1")],
        )
    job = Job.objects.get(pk=run.info.run_id)
    assert metrics.keys(job.pk) == [] and job.spec["params"] == {"lr": "0.1"}


def test_unauthenticated_and_unknown_endpoints(mlflow_env):
    api = APIClient()
    answer = api.get("/api/2.0/mlflow/experiments/get", {"experiment_id": "1"})
    assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
    answer = api.post("/api/2.0/mlflow/experiments/create", {"name": "x"}, format="json")
    assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
    user = UserFactory()
    api.force_authenticate(user)
    answer = api.post("/api/2.0/mlflow/no-such-thing", {}, format="json")
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_artifacts_go_through_the_proxy_into_eco_blobs(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from datasets_app.models import Blob

    token = use_token(monkeypatch, ada)
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.93\n")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "loss.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    (folder / "sub" / "empty.txt").write_bytes(b"")  # sent chunked, with no Content-Length
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(report))
        mlflow.log_artifacts(str(folder), artifact_path="plots")
    client = MlflowClient()
    top = client.list_artifacts(run.info.run_id)
    assert [(f.path, f.is_dir) for f in top] == [("plots", True), ("report.txt", False)]
    assert top[1].file_size == len("accuracy 0.93\n")
    inner = client.list_artifacts(run.info.run_id, "plots")
    assert [(f.path, f.is_dir) for f in inner] == [("plots/loss.csv", False), ("plots/sub", True)]
    back = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="plots", dst_path=str(tmp_path / "d")
    )
    assert (tmp_path / "d" / "plots" / "loss.csv").read_text() == "step,loss\n0,1.0\n1,0.5\n"
    assert (tmp_path / "d" / "plots" / "sub" / "empty.txt").read_bytes() == b""
    assert back.endswith("plots")

    # the files are the run's Eco artifacts, stored as content-addressed blobs, listed by Eco's API
    job = Job.objects.get(pk=run.info.run_id)
    assert sorted(job.artifacts.values_list("path", flat=True)) == [
        "plots/loss.csv",
        "plots/sub/empty.txt",
        "report.txt",
    ]
    assert Blob.objects.filter(sha256=job.artifacts.get(path="report.txt").blob.sha256).count() == 1
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert {a["path"] for a in api.get(f"/api/v1/jobs/{job.pk}/artifacts/").json()} == {
        "plots/loss.csv",
        "plots/sub/empty.txt",
        "report.txt",
    }

    # another team's user neither reads nor writes them
    outsider = UserFactory(username="eve")
    MembershipFactory(team=TeamFactory(slug="other"), user=outsider, role="admin")
    eve = APIClient()
    eve.force_authenticate(outsider)
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    assert eve.get(f"{base}/report.txt").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    refused = eve.put(f"{base}/evil.txt", b"x", content_type="application/octet-stream")
    assert refused.status_code == 404 and refused.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert not job.artifacts.filter(path="evil.txt").exists()


def test_a_long_history_comes_back_page_by_page(mlflow_env, ada, monkeypatch):
    """200 points over three chunks, two at each even step: pages of 30 give them all back, in order, once."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    token = use_token(monkeypatch, ada)
    with mlflow.start_run() as run:
        pass
    points = [Metric("loss", float(i), 1_700_000_000_000 + i, (i // 2) * 2 if i % 4 < 2 else i) for i in range(200)]
    MlflowClient().log_batch(run.info.run_id, metrics=points[:120])
    MlflowClient().log_batch(run.info.run_id, metrics=points[120:])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    got, page_token, pages = [], None, 0
    while True:
        query = {"run_id": run.info.run_id, "metric_key": "loss", "max_results": 30}
        if page_token:
            query["page_token"] = page_token
        body = api.get("/api/2.0/mlflow/metrics/get-history", query).json()
        got += [(m["step"], m["value"], m["timestamp"]) for m in body["metrics"]]
        pages += 1
        page_token = body.get("next_page_token")
        if not page_token:
            break
    assert pages == 7
    assert got == sorted((p.step, p.value, p.timestamp) for p in points)
    assert [(m.step, m.value) for m in MlflowClient().get_metric_history(run.info.run_id, "loss")] == [
        (s, v) for s, v, _ in got
    ]
    bad = api.get(
        "/api/2.0/mlflow/metrics/get-history", {"run_id": run.info.run_id, "metric_key": "loss", "page_token": "x"}
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_nan_and_infinite_values_are_kept_as_mlflow_logs_them(mlflow_env, ada, monkeypatch):
    """A diverging run logs NaN and infinite losses: MLflow gives them back as logged; Eco's own JSON, which
    cannot hold them, reads them as null; summaries and charts skip them as extremes."""
    import math

    import mlflow
    from mlflow import MlflowClient

    token = use_token(monkeypatch, ada)
    with mlflow.start_run() as run:
        for step, value in enumerate([0.9, 0.5, float("nan"), float("inf"), float("-inf"), 0.4]):
            mlflow.log_metric("loss", value, step=step)
        mlflow.log_metric("loss", float("nan"), step=6)
    client = MlflowClient()
    history = client.get_metric_history(run.info.run_id, "loss")
    values = [m.value for m in history]
    assert values[:2] == [0.9, 0.5] and math.isnan(values[2]) and values[3:6] == [math.inf, -math.inf, 0.4]
    assert math.isnan(values[6]) and len(values) == 7  # no point lost
    assert math.isnan(client.get_run(run.info.run_id).data.metrics["loss"])  # the latest point, as logged
    with mlflow.start_run() as finite:
        mlflow.log_metric("loss", 0.3)
    for text in ("metrics.loss < 1", "metrics.loss > 0.1", "metrics.loss != 5"):  # a NaN matches no comparison
        assert [r.info.run_id for r in client.search_runs([run.info.experiment_id], text)] == [finite.info.run_id]
    for order in ("ASC", "DESC"):  # and sorts after every number either way, as MLflow sorts it
        ordered = client.search_runs([run.info.experiment_id], order_by=[f"metrics.loss {order}"])
        assert [r.info.run_id for r in ordered] == [finite.info.run_id, run.info.run_id]

    job_id = uuid.UUID(run.info.run_id)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    series = api.get(f"/api/v1/jobs/{job_id}/metrics/", {"key": "loss"})
    assert series.status_code == 200
    assert [v for _, v in series.json()["points"]] == [0.9, 0.5, None, None, None, 0.4, None]
    job = api.get(f"/api/v1/jobs/{job_id}/").json()
    summary = job["metric_summaries"]["loss"]
    assert summary["min"] is None and summary["max"] is None  # -inf and +inf are the extremes: not JSON numbers
    assert summary["last"] is None and summary["count"] == 7
    keys = api.get(f"/api/v1/jobs/{job_id}/metrics/").json()["keys"]
    assert keys[0]["last_value"] is None


def test_mlflow_runs_are_listed_by_experiment_in_eco_s_cli(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow

    from tests.cli.runner import eco_runner

    token = use_token(monkeypatch, ada)
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.set_tag("stage", "dev")
    mlflow.set_experiment("other")
    with mlflow.start_run():
        pass
    eco = eco_runner(mlflow_env.url, tmp_path)
    eco("login", "--token", token)
    listed = eco("runs", "--experiment", "churn")
    assert [r["id"].replace("-", "") for r in listed] == [run.info.run_id]
    assert [r["id"].replace("-", "") for r in eco("runs", "--experiment", "alpha/churn")] == [run.info.run_id]
    assert eco("runs", "--experiment", "beta/churn") == []  # another team's name finds nothing
    shown = eco("runs", "show", str(uuid.UUID(run.info.run_id)), table=True)
    assert "baseline" in shown and "churn" in shown and "stage=dev" in shown
    assert len(eco("runs")) == 2
