from django.apps import AppConfig


class MlflowAppConfig(AppConfig):
    """MLflow's tracking protocol on Eco's registry (no models of its own)."""

    name = "mlflow_app"
    verbose_name = "MLflow protocol"
