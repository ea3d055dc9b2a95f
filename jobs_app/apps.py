from django.apps import AppConfig


class JobsAppConfig(AppConfig):
    name = "jobs_app"
    verbose_name = "Jobs"

    def ready(self):
        # Retrain triggers follow their jobs' ends through the services' hook, so the services never import
        # triggers (which submit jobs through the services).
        from jobs_app import triggers
        from jobs_app.services import on_job_end

        on_job_end(triggers.job_ended)
