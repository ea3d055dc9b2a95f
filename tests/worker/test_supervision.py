"""`make run` keeps serving when one of its processes dies: the stack is started exactly as `make run` starts it
(`platform/supervise`, i.e. supervisord on platform/supervisord.conf), on the test database and the test broker.
SIGKILL the Celery worker's main process: the web server answers throughout, supervisord starts a new worker,
and that worker takes a job that then succeeds. SIGKILL the web server: a new one comes up while the worker
keeps running (and finishes the job it holds). Ctrl-C (SIGINT to supervisord) then stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings

from jobs_app.models import Job
from tests.helpers import ISOLATED_POOL, builtin_version, wait_finished, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
WORKER_READY = re.compile(r"^celery@\S+ ready\.$", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Supervised:
    """platform/supervise in a session of its own, its output (every process's, and supervisord's) in one file."""

    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path = env, log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(ROOT / "platform" / "supervise")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.base = f"http://127.0.0.1:{env['PORT']}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ctl(self, *args: str) -> str:
        argv = [str(Path(sys.executable).with_name("supervisorctl")), "-c", "platform/supervisord.conf", *args]
        return subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=30).stdout

    def pid(self, name: str) -> int:
        """The pid supervisord watches for `name`; 0 while it is not running."""
        answer = self.ctl("pid", f"eco:{name}").strip()
        return int(answer) if answer.isdigit() else 0

    def health(self) -> int | None:
        try:
            return httpx.get(f"{self.base}/api/v1/health/", timeout=5).status_code
        except httpx.HTTPError:
            return None

    def workers_ready(self) -> int:
        return len(WORKER_READY.findall(self.log()))

    def wait(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"supervisord exited while waiting for {what}:\n{self.log()[-5000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.log()[-5000:]}"
            time.sleep(0.1)

    def kill_everything(self) -> None:
        """Only when the clean stop failed: SIGKILL supervisord's descendants (each in a process group of its
        own), then supervisord."""
        if self.proc.poll() is not None:
            return
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_worker_or_web_server_is_restarted_while_the_others_keep_serving(world, stack, tmp_path):
    from accounts_app.services import issue_token

    member = world.client("member")
    version_id = builtin_version(member, name="flowers", builtin="iris")
    _, token = issue_token(user=world.users["member"], name="supervision")
    env = {
        **stack.env,  # the test database and broker, the shared media folder, fast heartbeats
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",  # as `make run` sets it
        "ECO_VAR_DIR": str(tmp_path / "var"),  # supervisord's socket and pid file: never the checkout's var/
        "SECRET_KEY": settings.SECRET_KEY,
        "ECO_HOST": "127.0.0.1",
        "PORT": str(_free_port()),
        "WEB_CONCURRENCY": "1",
        "ECO_WEB_THREADS": "4",
        "ECO_WORKER_QUEUES": ISOLATED_POOL,  # no other worker of the test session takes these jobs
        "ECO_REAPER_INTERVAL_S": "0.5",
        "ECO_DEMO_LOOP": "0",
    }
    run = Supervised(env, tmp_path / "supervised.log")
    api = httpx.Client(base_url=run.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def submit(kind: str, spec: dict) -> str:
        body = {"team": "alpha", "kind": kind, "spec": spec, "resources": {"pool": ISOLATED_POOL}}
        response = api.post("/api/v1/jobs/", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    try:
        run.wait(lambda: run.workers_ready() == 1 and run.health() == 200, "the web server and the worker")
        web, worker, reaper = run.pid("web"), run.pid("worker"), run.pid("reaper")
        assert 0 not in (web, worker, reaper), run.ctl("status")

        # 1. the worker's main process dies without a chance to clean up
        os.kill(worker, signal.SIGKILL)
        answers = []

        def new_worker_ready() -> bool:
            answers.append(run.health())  # asked all along: while the worker is gone and while it comes back
            return run.workers_ready() == 2

        run.wait(new_worker_ready, "a new worker")
        assert len(answers) >= 5 and set(answers) == {200}, answers
        assert "exited: worker (terminated by SIGKILL; not expected)" in run.log()
        new_worker = run.pid("worker")
        assert new_worker not in (0, worker)
        assert (run.pid("web"), run.pid("reaper")) == (web, reaper)  # nobody else was touched
        assert not _alive(worker)

        # ... and the new worker takes a job, submitted through the web server, which succeeds
        processed = submit("process", {"dataset_version": version_id, "steps": [{"op": "standardize"}]})
        done = wait_finished(processed, timeout=60)
        assert done.status == "succeeded", done.error
        assert done.outputs["dataset_version"]

        # 2. the web server dies while the worker holds a job: a new web server comes up, the worker keeps running
        held = submit("process", {"dataset_version": version_id, "steps": [{"op": "dedupe"}]})
        wait_for(held, lambda j: j.status in ("running", "succeeded"), what="the worker to take the job")
        os.kill(web, signal.SIGKILL)
        run.wait(lambda: run.pid("web") not in (0, web) and run.health() == 200, "a new web server")
        assert "exited: web (terminated by SIGKILL; not expected)" in run.log()
        assert run.pid("worker") == new_worker and run.pid("reaper") == reaper
        finished = wait_finished(held, timeout=60)
        assert finished.status == "succeeded", finished.error
        assert api.get(f"/api/v1/jobs/{held}/").json()["status"] == "succeeded"  # the new web server serves
        assert run.pid("worker") == new_worker  # the same worker ran on while the web server was down

        # 3. Ctrl-C stops everything, cleanly
        pids = [run.pid(name) for name in ("web", "worker", "reaper")]
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(timeout=45) == 0, run.log()[-5000:]
        assert not any(_alive(pid) for pid in pids), run.log()[-5000:]
        log = run.log()
        assert all(f"stopped: {name}" in log for name in ("web", "worker", "reaper")), log[-3000:]
    finally:
        api.close()
        run.kill_everything()
    assert Job.objects.filter(pk__in=[processed, held], status="succeeded").count() == 2
