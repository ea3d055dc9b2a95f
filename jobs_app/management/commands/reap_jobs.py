"""The reaper as its own small process: re-queue running jobs whose worker stopped heartbeating, and start
the retrain runs whose trigger has seen enough new feedback (every ECO_TRIGGER_INTERVAL_S).

python manage.py reap_jobs            # once (for cron)
python manage.py reap_jobs --every 30 # forever, every 30 seconds (the Procfile runs this)
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from datasets_app.uploads import remove_stale_temp_files
from jobs_app.services import reap_stale_jobs
from jobs_app.triggers import check_triggers


class Command(BaseCommand):
    help = "Re-queue running jobs whose heartbeat stopped (their worker died)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=None, help="seconds between looks; omit to look once")

    def handle(self, *args, every=None, **options):
        triggers_due = 0.0
        while True:
            close_old_connections()
            try:
                touched = reap_stale_jobs()
                remove_stale_temp_files(settings.ECO_UPLOAD_TMP_MAX_AGE_S)
                if time.monotonic() >= triggers_due:
                    started = check_triggers()
                    triggers_due = time.monotonic() + settings.ECO_TRIGGER_INTERVAL_S
                    if started:
                        self.stdout.write(f"retrain runs started: {', '.join(started)}")
            except Exception as exc:  # the database or broker is away: try again next round, never exit
                if every is None:
                    raise
                self.stderr.write(f"reaper round failed: {type(exc).__name__}: {exc}")
                touched = []
            if touched:
                self.stdout.write(f"touched: {', '.join(touched)}")
            if every is None:
                return
            time.sleep(every or settings.ECO_REAPER_INTERVAL_S)
