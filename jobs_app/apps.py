from django.apps import AppConfig


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
