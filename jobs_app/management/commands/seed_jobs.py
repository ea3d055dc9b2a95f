"""Seed a team with many finished train jobs, each with a few metric points, for benchmarks and browser tests.

    python manage.py seed_jobs --team demo --count 10000 [--points 5] [--seed 0]

Jobs and their metric chunks (jobs_app.metrics.chunk_rows) are written with bulk_create, not through the
services: no dataset, model or worker is involved, the jobs only look like finished runs (about 1 in 20
failed, with an error). Not for production data."""

import random
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts_app.models import Membership, Role, Team
from jobs_app import metrics
from jobs_app.models import Job, JobStatus, MetricChunk

BATCH = 2000


class Command(BaseCommand):
    help = "Create --count finished train jobs with a few metric points each in team --team (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="slug of an existing team")
        parser.add_argument("--count", type=int, default=1000)
        parser.add_argument("--points", type=int, default=5, help="points per metric (loss, val_accuracy)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, team, count, points, seed, **options):
        if count < 1 or points < 1:
            raise CommandError("--count and --points must be at least 1")
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"no team '{team}'")
        admin = Membership.objects.filter(team=found, role=Role.ADMIN).select_related("user").first()
        creator = admin.user if admin else None
        rng = random.Random(seed)
        started = time.perf_counter()
        now = timezone.now()
        for offset in range(0, count, BATCH):
            with transaction.atomic():
                jobs = [self._job(found, creator, rng, now, offset + i) for i in range(min(BATCH, count - offset))]
                Job.objects.bulk_create(jobs)
                chunks = [c for job in jobs for c in metrics.chunk_rows(job.pk, self._points(job, rng, points))]
                MetricChunk.objects.bulk_create(chunks, batch_size=2000)
        seconds = time.perf_counter() - started
        self.stdout.write(f"seeded {count} jobs with {count * points * 2} metric points in {seconds:.1f} s")

    @staticmethod
    def _job(team, creator, rng, now, i) -> Job:
        created = now - timedelta(minutes=10 * i + rng.random())
        started = created + timedelta(seconds=rng.uniform(1, 60))
        failed = rng.random() < 0.05
        return Job(
            team=team,
            kind="train",
            status=JobStatus.FAILED if failed else JobStatus.SUCCEEDED,
            spec={
                "model_name": f"seeded-model-{i % 7}",
                "architecture": rng.choice(["mlp", "cnn"]),
                "hyperparameters": {
                    "lr": rng.choice([0.1, 0.03, 0.01, 0.003, 0.001]),
                    "batch_size": rng.choice([32, 64, 128]),
                    "epochs": rng.randint(1, 20),
                    "seed": i,
                },
                "description": f"seeded run {i}",
            },
            progress=rng.uniform(0.1, 0.9) if failed else 1.0,
            attempts=1,
            error="seeded failure: the loss became nan" if failed else "",
            created_by=creator,
            created_at=created,
            started_at=started,
            finished_at=started + timedelta(seconds=rng.uniform(5, 600)),
        )

    @staticmethod
    def _points(job, rng, n) -> list[tuple]:
        """(key, step, value, time) points of a loss and a val_accuracy falling and rising over n steps."""
        loss, accuracy = rng.uniform(1.5, 2.5), rng.uniform(0.1, 0.3)
        out = []
        for step in range(1, n + 1):
            loss *= rng.uniform(0.6, 0.95)
            accuracy = min(1.0, accuracy + rng.uniform(0.0, 0.2))
            at = (job.started_at + timedelta(seconds=step)).timestamp()
            out.append(("loss", step * 10, loss, at))
            out.append(("val_accuracy", step * 10, accuracy, at))
        return out
