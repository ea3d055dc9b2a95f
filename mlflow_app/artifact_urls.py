"""MLflow's artifact proxy paths, under /api/2.0/mlflow-artifacts/ (mlflow_app.artifacts)."""

from django.urls import path

from mlflow_app.artifacts import ArtifactApi, ArtifactListApi

urlpatterns = [
    path("artifacts", ArtifactListApi.as_view()),
    path("artifacts/<path:path>", ArtifactApi.as_view()),
]
