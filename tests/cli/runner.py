"""Run the `eco` command in a subprocess against a live server, as a user would."""

import json
import os
import subprocess
import sys


def eco_runner(url: str, workdir, timeout: float = 60):
    """`run(*args)` returns the JSON the command printed with --json (and asserts it exited 0);
    `run(*args, ok=False)` returns the CompletedProcess; `run(*args, table=True)` the table it prints for
    people (stdout). `run.stderr` holds the last command's stderr, `run.dir` its folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env.update(ECO_CONFIG=str(workdir / "config.json"), ECO_URL=url, COLUMNS="120")

    def run(*args, ok=True, table=False):
        result = subprocess.run(
            [sys.executable, "-m", "eco.cli", *args, *([] if table else ["--json"])],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run.stderr = result.stderr
        if table:
            assert result.returncode == 0, result.stderr
            return result.stdout
        if ok:
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)
        return result

    run.dir = workdir
    run.env = env
    run.live_url = url
    run.stderr = ""
    return run
