"""The reaper as its own small process: re-queue running jobs whose worker stopped heartbeating.

python manage.py reap_jobs            # once (for cron)
python manage.py reap_jobs --every 30 # forever, every 30 seconds (the Procfile runs this)
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from jobs_app.services import reap_stale_jobs


class Command(BaseCommand):
    help = "Re-queue running jobs whose heartbeat stopped (their worker died)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=None, help="seconds between looks; omit to look once")

    def handle(self, *args, every=None, **options):
        while True:
            close_old_connections()
            touched = reap_stale_jobs()
            if touched:
                self.stdout.write(f"re-queued or failed: {', '.join(touched)}")
            if every is None:
                return
            time.sleep(every or settings.ECO_REAPER_INTERVAL_S)
