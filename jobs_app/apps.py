from django.apps import AppConfig
from django.db.models.signals import post_save


class JobsAppConfig(AppConfig):
    name = "jobs_app"
    verbose_name = "Jobs"

    def ready(self):
        # Retrain triggers follow their jobs' ends through the services' hook, so the services never import
        # triggers (which submit jobs through the services).
        from jobs_app import lineage, triggers
        from jobs_app.services import on_job_end
        from models_app.services import on_version_from_run

        on_job_end(triggers.job_ended)
        on_version_from_run(lineage.record_run_output)  # a tracking run's uploaded version: its lineage
        # every team has its default experiment from the start, so reading one (MLflow's experiment 0) never writes
        post_save.connect(_team_saved, sender="accounts_app.Team", dispatch_uid="jobs_app.default_experiment")


def _team_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        from jobs_app.services.experiments import default_experiment

        default_experiment(team=instance)
