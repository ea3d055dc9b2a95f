"""The `eco` command line against a real HTTP server (pytest-django's live_server), as a user runs it."""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from accounts_app.models import User
from tests.cli.runner import eco_runner
from tests.factories import MembershipFactory, TeamFactory, UserFactory

PASSWORD = "correct horse battery staple"
NONE = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def eco(live_server, tmp_path, transactional_db):
    team = TeamFactory(slug="alpha")
    MembershipFactory(team=team, user=UserFactory(username="ada"), role="member")
    return eco_runner(live_server.url, tmp_path)


def test_a_user_session_from_login_to_alias(eco):
    assert "not logged in" in eco("me", ok=False).stderr
    down = subprocess.run(
        [sys.executable, "-m", "eco.cli", "login", "--url", "http://127.0.0.1:9", "--username", "x", "--password", "y"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # no server to answer: an error (1), not a usage mistake (2)
    assert down.returncode == 1 and down.stderr.startswith("eco: ") and "Traceback" not in down.stderr
    login = eco("login", "--username", "ada", "--password", PASSWORD)
    config = Path(login["saved_to"])
    saved = json.loads(config.read_text())["profiles"]["default"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and saved["token"].startswith("eco_")
    assert eco("me")["teams"] == [{"slug": "alpha", "name": "Alpha", "role": "member"}]

    dataset = eco("datasets", "create", "alpha", "flowers", "--task", "classification")
    (eco.dir / "f.csv").write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    version = eco("datasets", "upload", dataset["id"], "f.csv", "--target", "label")
    assert version["version"] == 1 and version["num_rows"] == 3
    assert eco("versions", "preview", version["id"], "--limit", "2")["rows"] == [[1, 2.5, "x"], [3, 4.5, "y"]]
    eco("versions", "download", version["id"], "copy.csv")
    assert (eco.dir / "copy.csv").read_bytes() == (eco.dir / "f.csv").read_bytes()
    builtin = eco("datasets", "builtin", dataset["id"], "iris")
    assert builtin["version"] == 2 and builtin["num_rows"] == 150
    assert [d["name"] for d in eco("datasets", "list", "--team", "alpha")] == ["flowers"]

    # a semicolon file whose "-" means missing; --offset pages through the rows as training reads them
    (eco.dir / "semi.csv").write_text("a;b;label\n1;-;NA\n2;3;007\n4;5;7\n")
    semi = eco(
        "datasets", "upload", dataset["id"], "semi.csv", "--target", "label", "--delimiter", ";", "--na-values", '["-"]'
    )
    assert semi["schema"]["delimiter"] == ";" and semi["schema"]["na_values"] == ["-"]
    assert [(c["dtype"], c["missing"]) for c in semi["schema"]["columns"]] == [
        ("int64", 0),
        ("int64", 1),
        ("string", 0),
    ]
    assert eco("versions", "preview", semi["id"], "--offset", "1")["rows"] == [[2, 3, "007"], [4, 5, "7"]]

    (eco.dir / "bad.csv").write_text("a,b,label\n1,2,x\n3\n")
    failed = eco("datasets", "upload", dataset["id"], "bad.csv", "--target", "label", ok=False)
    assert failed.returncode == 1 and "line 3: expected 3 fields, found 1" in failed.stderr

    model = eco("models", "create", "alpha", "clf", "--task", "classification")
    spec = {"architecture": "mlp", "in_features": 2, "hidden": [], "num_outputs": 2}
    from ml.architectures import build_model
    from ml.artifacts import save_weights

    save_weights(build_model(spec), eco.dir / "w.safetensors")
    (eco.dir / "spec.json").write_text(json.dumps(spec))
    registered = eco(
        "models",
        "register",
        model["id"],
        "w.safetensors",
        "--spec",
        "spec.json",
        "--metrics",
        '{"accuracy": 0.75}',
        "--dataset-version",
        version["id"],
    )
    assert registered["metrics"] == {"accuracy": 0.75} and registered["dataset_versions"] == [version["id"]]
    alias = eco("alias", "set", model["id"], "production", registered["id"])
    assert alias["version"] == registered["id"]
    assert eco("models", "list")[0]["aliases"] == {"production": registered["id"]}


def test_exit_codes_version_and_a_reader_that_stops_early(eco):
    eco("login", "--username", "ada", "--password", PASSWORD)
    missing = eco("jobs", "show", "00000000-0000-0000-0000-000000000000", ok=False)
    assert missing.returncode == 3 and '"not_found"' in missing.stderr
    usage = eco("jobs", "list", "--no-such-option", ok=False)
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
    bad_json = eco("datasets", "upload", NONE, "f.csv", "--target", "y", "--na-values", "[not json", ok=False)
    assert bad_json.returncode == 2 and bad_json.stderr.startswith("eco: ")
    version = eco("--version", ok=False)
    assert version.returncode == 0 and version.stdout.startswith("eco ")

    for n in range(8):  # more output than a pipe's buffer (64 KiB) holds once the reader has gone
        eco("datasets", "create", "alpha", f"set-{n}", "--task", "classification", "--description", "x" * 40_000)
    assert len(json.dumps(eco("datasets", "list", "--team", "alpha"), indent=2)) > 4 * 65_536
    piped = subprocess.run(
        f"{sys.executable} -m eco.cli datasets list --team alpha --json | head -c 10",
        shell=True,
        env={**os.environ, "ECO_CONFIG": str(eco.dir / "config.json")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stdout == "[\n  {\n    " and piped.stderr == ""  # no BrokenPipeError traceback


def test_login_with_a_token_profiles_and_logout(eco, live_server):
    made = eco("login", "--username", "ada", "--password", PASSWORD)
    token = json.loads(Path(made["saved_to"]).read_text())["profiles"]["default"]["token"]
    # a second profile from a token (what the dashboard's Team page makes): checked before it is saved
    wrong = eco("--profile", "ci", "login", "--url", live_server.url, "--token", "eco_not-a-token", ok=False)
    assert wrong.returncode == 1 and "Invalid token" in wrong.stderr
    assert "ci" not in json.loads(Path(made["saved_to"]).read_text())["profiles"]
    ci = eco("--profile", "ci", "login", "--url", live_server.url, "--token", token)
    assert (ci["logged_in_as"], ci["profile"]) == ("ada", "ci")
    assert eco("--profile", "ci", "me")["username"] == "ada"
    assert eco("--profile", "ci", "logout") == {"profile": "ci", "logged_out": True, "saved_to": made["saved_to"]}
    gone = eco("--profile", "ci", "me", ok=False)
    assert gone.returncode == 1 and "not logged in (profile ci)" in gone.stderr
    assert eco("me")["username"] == "ada"  # the default profile is untouched
    profiles = json.loads(Path(made["saved_to"]).read_text())["profiles"]
    assert list(profiles) == ["default"]


def test_the_config_file_follows_xdg_config_home(tmp_path, monkeypatch):
    from eco import cli

    monkeypatch.delenv("ECO_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli._config_path() == tmp_path / "xdg" / "eco" / "config.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert cli._config_path() == Path.home() / ".config" / "eco" / "config.json"
    monkeypatch.setenv("ECO_CONFIG", str(tmp_path / "c.json"))
    assert cli._config_path() == tmp_path / "c.json"
    # a file saved before profiles existed is the default profile
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"url": "http://eco.example", "token": "eco_x"}))
    monkeypatch.setattr(cli, "CONFIG", old)
    assert cli._profiles() == {"default": {"url": "http://eco.example", "token": "eco_x"}}


def test_every_command_and_option_has_help():
    import argparse

    from eco.cli import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, child in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{path} {name}")
                    walk(child, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "eco")
    assert missing == []
    argv = [sys.executable, "-m", "eco.cli", "jobs", "submit", "--help"]
    shown = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "higher runs first" in shown.stdout


def test_names_wherever_people_think_in_names(eco):
    beta = TeamFactory(slug="beta")
    MembershipFactory(team=beta, user=User.objects.get(username="ada"), role="member")
    eco("login", "--username", "ada", "--password", PASSWORD)
    flowers = eco("datasets", "create", "alpha", "flowers", "--task", "classification")
    assert eco("datasets", "show", "flowers")["id"] == flowers["id"]
    assert eco("datasets", "builtin", "flowers", "iris")["dataset"] == flowers["id"]  # a name where an id was
    assert len(eco("datasets", "versions", "flowers")) == 1
    clf = eco("models", "create", "alpha", "clf", "--task", "classification")
    assert eco("models", "show", "clf")["id"] == clf["id"] == eco("models", "show", clf["id"])["id"]

    # the same name in two teams: the candidates, then --team picks
    other = eco("models", "create", "beta", "clf", "--task", "classification")
    ambiguous = eco("models", "show", "clf", ok=False)
    assert ambiguous.returncode == 4 and "alpha/clf" in ambiguous.stderr and "beta/clf" in ambiguous.stderr
    assert eco("models", "show", "clf", "--team", "beta")["id"] == other["id"]
    missing = eco("models", "show", "no-such-model", ok=False)
    assert missing.returncode == 3 and "No model named 'no-such-model' in your teams" in missing.stderr


def test_tables_for_people_json_for_scripts(eco):
    eco("login", "--username", "ada", "--password", PASSWORD)
    for name in ("flowers", "wine"):
        eco("datasets", "create", "alpha", name, "--task", "classification", "--license", "CC-BY-4.0")
    table = eco("datasets", "list", "--team", "alpha", table=True)
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    lines = [uuid.sub("<id>", line).rstrip() for line in table.splitlines() if line.strip()]
    header = next(line for line in lines if "name" in line and "team" in line)
    assert [c.strip() for c in header.strip("┃│ ").replace("┃", "│").split("│")][:4] == ["id", "name", "team", "task"]
    rows = [line for line in lines if "<id>" in line]
    assert len(rows) == 2 and "wine" in rows[0] and "flowers" in rows[1]  # newest first, as the API lists them
    assert all("alpha" in row and "classification" in row for row in rows)
    assert lines[-1].strip() == "2 rows"
    one = eco("datasets", "show", "wine", table=True)
    assert re.search(r"│ license\s+│ CC-BY-4.0\s+│", one) and not one.lstrip().startswith("{")
    assert [d["name"] for d in eco("datasets", "list", "--team", "alpha")] == ["wine", "flowers"]  # --json
