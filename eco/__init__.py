"""Eco's Python client, tracking runs and `eco` command line. Django-free: it talks only to the REST API.

    import eco
    with eco.start_run(team="vision", model="digits-cnn", params={"lr": 1e-3}) as run:
        run.log_metrics({"loss": 0.3}, step=1)
"""

from eco.client import Client, EcoError
from eco.tracking import Run, start_run, sync

__all__ = ["Client", "EcoError", "Run", "start_run", "sync"]
