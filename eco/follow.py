"""Following a job until it ends: its log lines, its progress (0..1), its status and the latest value of each
metric, shown three ways (`follow`): a live rich display on a terminal, plain lines when stdout is a pipe or a
file, and only the log (on stderr) when the caller prints JSON."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from eco.client import Client

FINISHED = ("succeeded", "failed", "cancelled")
LOG_PAGE = 1000  # the logs endpoint's default page: a full page means more lines are waiting


class JobFailed(Exception):
    """The followed job ended failed or cancelled; `job` is its final record."""

    def __init__(self, job: dict):
        super().__init__(job.get("error") or job["status"])
        self.job = job


def watch(
    client: Client,
    job_id: str,
    *,
    on_line: Callable[[str], None],
    on_update: Callable[[dict, dict[str, float]], None],
    poll: float = 1.0,
) -> dict:
    """Polls the job until it has ended and its log is drained; returns its final record.

    Calls `on_line(text)` for every log line in order, and `on_update(job, {metric key: last value})` once per
    poll (at most every `poll` seconds while a long log is read). Raises EcoError as the API answers."""
    after, refreshed = 0, float("-inf")
    job: dict | None = None
    while True:
        page = client.logs(job_id, after=after)
        for line in page["results"]:
            on_line(line["line"])
        after = page["next_after"]
        over = page["status"] in FINISHED and not page["results"]  # it ended before these (no) lines were read
        if over or job is None or time.monotonic() - refreshed >= poll:
            job = client.job(job_id)
            on_update(job, {k["key"]: k["last_value"] for k in client.metric_keys(job_id)})
            refreshed = time.monotonic()
        if over:
            return job
        if page["status"] not in FINISHED and len(page["results"]) < LOG_PAGE:
            time.sleep(poll)  # an ended job's log is drained without waiting


def _metrics_text(metrics: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in metrics.items() if value is not None)


def _follow_quiet(client: Client, job_id: str, poll: float) -> dict:
    # stdout is for the final JSON: the log goes to stderr, where a person running a script still sees it
    return watch(
        client, job_id, on_line=lambda text: print(text, file=sys.stderr), on_update=lambda j, m: None, poll=poll
    )


def _follow_plain(client: Client, job_id: str, poll: float, out) -> dict:
    """One line per log line, and a status line whenever the status or the progress (in tenths) moves."""
    shown: list = [None]

    def update(job: dict, metrics: dict) -> None:
        progress = job.get("progress") or 0.0
        mark = (job["status"], int(progress * 10))
        if mark != shown[0]:
            shown[0] = mark
            line = f"[{job['status']}] {progress:.0%}"
            print(f"{line} {_metrics_text(metrics)}".rstrip(), file=out, flush=True)

    return watch(client, job_id, on_line=lambda text: print(text, file=out, flush=True), on_update=update, poll=poll)


class _LiveView:
    """What the live display draws: a progress bar with the status, then a table of each metric's last value."""

    def __init__(self, job_id: str):
        from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description}"),
            TextColumn("[bold]{task.fields[status]}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
        )
        self.task = self.progress.add_task(f"job {job_id[:8]}", total=1.0, status="…")
        self.metrics: dict[str, float] = {}

    def update(self, job: dict, metrics: dict[str, float]) -> None:
        done = job["status"] in FINISHED
        progress = 1.0 if job["status"] == "succeeded" else (job.get("progress") or 0.0)
        self.progress.update(self.task, completed=progress, status=job["status"])
        if done:
            self.progress.stop_task(self.task)
        self.metrics = metrics

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table

        if not self.metrics:
            return self.progress
        table = Table("metric", "latest", box=None, padding=(0, 2))
        table.columns[1].min_width = 10  # the column does not jump as values change length
        for key, value in self.metrics.items():
            table.add_row(key, "–" if value is None else f"{value:.6g}")
        return Group(self.progress, table)


def _follow_live(client: Client, job_id: str, poll: float, console) -> dict:
    from rich.live import Live

    view = _LiveView(job_id)
    with Live(view, console=console, refresh_per_second=8, transient=False) as live:

        def line(text: str) -> None:
            live.console.print(text, markup=False, highlight=False, emoji=False)  # log text is not markup

        return watch(client, job_id, on_line=line, on_update=view.update, poll=poll)


def follow(client: Client, job_id: str, *, json_output: bool = False, console=None, poll: float = 1.0) -> dict:
    """Follows the job to its end and returns its final record; raises JobFailed when it failed or was cancelled.

    With `json_output` only the log is printed (to stderr); else a live display when `console` (a rich Console,
    one is made when None) is a terminal, plain lines on stdout when it is not."""
    if json_output:
        job = _follow_quiet(client, job_id, poll)
    else:
        if console is None:
            from rich.console import Console

            console = Console()
        if console.is_terminal:
            job = _follow_live(client, job_id, poll, console)
        else:
            job = _follow_plain(client, job_id, poll, sys.stdout)
    if job["status"] != "succeeded":
        raise JobFailed(job)
    return job
