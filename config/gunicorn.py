"""gunicorn settings for Eco's web process: `gunicorn -c config/gunicorn.py config.wsgi`.
Command-line flags (--bind, --workers, ...) still apply on top of these."""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = 600
graceful_timeout = 30


def worker_exit(server, worker):
    """A worker that stops cleanly writes its pending prediction and serving request logs first (nothing is
    lost on shutdown)."""
    from models_app.prediction_log import shutdown

    shutdown()
