"""`eco export tensorboard`: a job's metric series as TensorBoard event files (tensorboardX writes them).

tensorboardX is an optional extra (`pip install 'eco[tensorboard]'`): it is imported only here, when an export
runs, and its absence is a MissingExtra naming the install command."""

from __future__ import annotations

import math
from pathlib import Path

from eco.client import Client

INSTALL = "pip install 'eco[tensorboard]'"


class MissingExtra(Exception):
    """An optional dependency a command needs is not installed; the message says how to install it."""


def _writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise MissingExtra(f"eco export tensorboard needs tensorboardX: {INSTALL}") from None
    return SummaryWriter


def export_job(client: Client, job_id: str, directory: str | Path) -> dict:
    """Writes every metric series of the job, every point with the time it was recorded, as scalars (tag = the
    metric key, step = the point's step) into TensorBoard event files under `directory` (made when missing);
    `tensorboard --logdir DIRECTORY` shows them.

    Returns {job, directory, files: [event file paths], metrics: {key: points written}}. Raises MissingExtra
    without tensorboardX, EcoError as the API answers (404 for an unknown job)."""
    writer_class = _writer_class()
    job = client.job(job_id)  # an unknown job is a 404 before any file is made
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("events.out.tfevents.*"))
    written: dict[str, int] = {}
    writer = writer_class(logdir=str(directory), flush_secs=30)
    try:
        for key in client.metric_keys(job["id"]):
            count = 0
            for step, value, at in client.metric_points(job["id"], key["key"]):
                # None: a NaN or infinity logged through MLflow (Eco's JSON has neither); TensorBoard draws NaN
                writer.add_scalar(key["key"], math.nan if value is None else value, global_step=step, walltime=at)
                count += 1
            written[key["key"]] = count
    finally:
        writer.close()
    files = sorted(str(p) for p in set(directory.glob("events.out.tfevents.*")) - before)
    return {"job": job["id"], "directory": str(directory), "files": files, "metrics": written}
