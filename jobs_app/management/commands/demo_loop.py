"""The first-run demo: the demo team runs one whole loop on scikit-learn's digits, by itself.

    digits -> train / hold-out split (process jobs) -> train a CNN -> gate -> evaluate -> promote
    -> serve -> simulated feedback -> retrain trigger run (snapshot -> train -> evaluate -> promote)
    -> the retrained version serves -> ONNX export (it now serves on ONNX Runtime)

Every step goes through the same services the API uses and every job runs on the Celery worker, so the
registry afterwards holds a living history: datasets with lineage, versions, evaluations, jobs with
metrics and logs, predictions with feedback, a trigger run. Steps are found again by their job
descriptions, so an interrupted demo resumes where it stopped; once the loop is done it is not run again.

python manage.py demo_loop            # run it (needs a worker), then exit
python manage.py demo_loop --stay     # ... then stay idle (the Procfile runs it so, beside the others)
"""

from __future__ import annotations

import os
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from accounts_app.models import Team, User
from datasets_app.models import Dataset, DatasetVersion
from datasets_app.services import create_dataset, create_version_from_builtin
from jobs_app import services, triggers
from jobs_app.models import FINISHED, Job, JobStatus, RetrainTrigger, RunStatus
from models_app import services as model_services
from models_app import serving
from models_app.models import GatePolicy, ModelVersion, PredictionLog, RegisteredModel
from models_app.prediction_log import writer

MODEL = "digits"
CARD = (
    "# digits\n\n## Intended use\nReading hand-written digits (8x8 grey images) in the Eco demo.\n\n"
    "## Limitations\nTrained on 1,438 scikit-learn digits; not for real-world handwriting.\n"
)
DONE = "demo: the loop ran"


class Command(BaseCommand):
    help = "Run the demo team's first loop on digits (train, promote, serve, feedback, retrain) if it has not run."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ECO_DEMO_USER", "admin"))
        parser.add_argument("--team", default=os.environ.get("ECO_DEMO_TEAM", "demo"))
        parser.add_argument("--stay", action="store_true", help="stay idle afterwards (for a Procfile)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for each job")

    def handle(self, *args, username, team, stay, timeout, **options):
        self.timeout = timeout
        try:
            if os.environ.get("ECO_DEMO_LOOP", "1") in ("0", "false", "no"):
                self.stdout.write("demo loop: off (ECO_DEMO_LOOP=0)")
            else:
                self.run(username, team)
        except Exception as exc:  # the demo must never take the platform down with it (honcho would)
            self.stderr.write(f"demo loop stopped: {type(exc).__name__}: {exc}")
            if not stay:
                raise
        while stay:  # honcho stops every process when one exits
            time.sleep(3600)

    def say(self, text: str) -> None:
        self.stdout.write(f"demo loop: {text}")
        self.stdout.flush()

    def run(self, username: str, slug: str) -> None:
        self.user = User.objects.filter(username=username).first()
        self.team = Team.objects.filter(slug=slug).first()
        if self.user is None or self.team is None:
            raise CommandError(f"no user '{username}' or team '{slug}'; run `manage.py bootstrap_demo` first")
        if Job.objects.filter(team=self.team, spec__description=DONE).exists():
            self.say("already ran; see the API, the admin, or the dashboard")
            return
        self.say("starting the first loop on digits (the worker runs every job)")
        base = self.digits()
        train_set = self.job(
            "process", {"dataset_version": base, "steps": [{"op": "sample", "fraction": 0.8}]}, "demo: training rows"
        )["dataset_version"]
        holdout = self.job(
            "process",
            {"dataset_version": base, "steps": [{"op": "sample", "fraction": 0.8, "complement": True}]},
            "demo: hold-out rows (the gate's pinned set)",
        )["dataset_version"]
        first = self.job(
            "train",
            {"dataset_version": train_set, "model": MODEL, "architecture": "cnn", "hyperparameters": {"epochs": 2}},
            "demo: first model (2 epochs)",
        )
        model = RegisteredModel.objects.get(pk=first["model"])
        self.gate(model, holdout)
        self.job(
            "evaluate",
            {"model_version": first["model_version"], "dataset_version": holdout, "split": "all"},
            "demo: evaluate the first model on the hold-out set",
        )
        self.promote(model, first["model_version"])
        trigger = self.trigger(model, train_set)

        from sklearn.datasets import load_digits

        digits = load_digits()
        pick = np.random.default_rng(2026).choice(len(digits.target), size=60, replace=False)
        self.images, labels = digits.images[pick], [str(digits.target[i]) for i in pick]
        if not trigger.runs.exists():
            self.say("serving 60 digits by alias 'production' and labelling each (simulated feedback)")
            self.serve_and_label(model, labels)
        run = self.retrain(trigger)
        if run.status == RunStatus.PROMOTED:
            self.say(f"the retrained version v{run.model_version.version} passed the gate and now serves")
            exported = self.job(
                "export", {"model_version": str(run.model_version_id), "format": "onnx"}, "demo: ONNX export"
            )
            self.say(f"exported to ONNX (v{exported['version']}): 'production' now serves on ONNX Runtime")
        else:
            self.say(f"the retrained version did not pass the gate: {run.error}")
        answer = serving.predict(
            user=self.user, model_pk=model.pk, alias="production", inputs=[self.images[0].tolist()]
        )
        writer.flush()
        self.job(
            "evaluate", {"model_version": answer["model_version"], "dataset_version": holdout, "split": "all"}, DONE
        )
        self.say(
            f"done: 'production' is v{answer['version']} on {answer['runtime']}; "
            f"GET /api/v1/triggers/{trigger.pk}/runs/ shows the retrain chain"
        )

    # --- steps ---------------------------------------------------------------------------------------------

    def digits(self) -> str:
        dataset = Dataset.objects.filter(team=self.team, name="digits").first()
        if dataset is None:
            dataset = create_dataset(
                actor=self.user,
                team=self.team,
                name="digits",
                task="image-classification",
                description="scikit-learn's 8x8 hand-written digits",
                sensitivity="public",
                license="BSD-3-Clause",
            )
        version = DatasetVersion.objects.filter(dataset=dataset, version=1).first()
        if version is None:
            version = create_version_from_builtin(actor=self.user, dataset=dataset, name="digits")
        return str(version.pk)

    def job(self, kind: str, spec: dict, description: str) -> dict:
        """The outputs of the demo job with this description: found again, or submitted and waited for."""
        job = (
            Job.objects.filter(team=self.team, kind=kind, spec__description=description)
            .exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED])
            .order_by("-created_at")
            .first()
        )
        if job is None:
            job = services.submit_job(
                actor=self.user, team=self.team, kind=kind, spec={**spec, "description": description}
            )
            self.say(f"{kind} job {job.pk} queued: {description}")
        return self.wait(job)

    def wait(self, job: Job) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            close_old_connections()
            job.refresh_from_db()
            if job.status in FINISHED:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"{job.kind} job {job.pk} is still {job.status}; is a worker running?")
            time.sleep(0.5)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"{job.kind} job {job.pk} {job.status}: {job.error}")
        return job.outputs

    def gate(self, model: RegisteredModel, holdout: str) -> None:
        if not model.card:
            model_services.update_model(actor=self.user, model=model, card=CARD)
        if not GatePolicy.objects.filter(model=model).exists():
            model_services.set_gate(
                actor=self.user,
                model=model,
                dataset_version=DatasetVersion.objects.get(pk=holdout),
                metric="accuracy",
                split="all",
                min_gain=0.0,
                required_card_fields=["Intended use", "Limitations"],
            )
            self.say("gate: accuracy on the hold-out set may not drop; the card needs 'Intended use', 'Limitations'")

    def promote(self, model: RegisteredModel, version_id: str) -> None:
        if model.aliases.filter(alias="production").exists():
            return
        version = ModelVersion.objects.get(pk=version_id)
        model_services.set_alias(actor=self.user, model=model, alias="production", version=version)
        self.say(f"v{version.version} passed the gate and is 'production'")

    def trigger(self, model: RegisteredModel, train_set: str) -> RetrainTrigger:
        trigger = RetrainTrigger.objects.filter(team=self.team, model=model).first()
        if trigger is None:
            trigger = triggers.create_trigger(
                actor=self.user,
                team=self.team,
                model=model,
                base_dataset_version=DatasetVersion.objects.get(pk=train_set),
                min_feedback=50,
                train={"architecture": "cnn", "hyperparameters": {"epochs": 8}},
                promote_if={"alias": "production"},
                name="retrain digits on feedback",
            )
            self.say(
                "retrain trigger: 50 labelled predictions start snapshot -> train (8 epochs) -> evaluate -> promote"
            )
        return trigger

    def serve_and_label(self, model: RegisteredModel, labels: list[str]) -> None:
        answers = []
        for start in range(0, 60, 10):  # a few requests of ten, as a client would send them
            batch = [image.tolist() for image in self.images[start : start + 10]]
            answers += serving.predict(user=self.user, model_pk=model.pk, alias="production", inputs=batch)[
                "predictions"
            ]
        writer.flush()  # the background writer would do it within a moment; the feedback needs the rows now
        for answer, label in zip(answers, labels, strict=True):
            prediction = PredictionLog.objects.get(pk=answer["id"])
            model_services.record_feedback(actor=self.user, prediction=prediction, label=label)
        right = sum(a["label"] == label for a, label in zip(answers, labels, strict=True))
        self.say(f"served 60 predictions, {right} right; each got its true label as feedback")

    def retrain(self, trigger: RetrainTrigger):
        """The reaper's periodic look starts the run; the demo takes that look at once instead of waiting."""
        run = trigger.runs.order_by("-created_at").first()
        if run is None:
            started = triggers.check_triggers(now=timezone.now())
            run = trigger.runs.order_by("-created_at").first()
            if run is None:
                raise CommandError(f"the trigger did not start a run ({started})")
            self.say(f"retrain run {run.pk} started on {run.feedback_count} labelled predictions")
        deadline = time.monotonic() + 3 * self.timeout
        while run.status == RunStatus.RUNNING:
            if time.monotonic() > deadline:
                raise CommandError(f"retrain run {run.pk} is still at step {run.step}")
            time.sleep(0.5)
            close_old_connections()
            run.refresh_from_db()
        if run.status == RunStatus.FAILED:
            raise CommandError(f"retrain run {run.pk} failed: {run.error}")
        return run
