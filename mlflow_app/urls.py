"""MLflow's REST API 2.0 paths (no trailing slash, as its client sends them), under /api/2.0/mlflow/.
A path of MLflow's that Eco does not serve answers ENDPOINT_NOT_FOUND in MLflow's format."""

from django.urls import path, re_path

from mlflow_app import api
from mlflow_app.api import route

urlpatterns = [
    path("experiments/create", route(api.experiments_create, "POST")),
    path("experiments/get", route(api.experiments_get, "GET")),
    path("experiments/get-by-name", route(api.experiments_get_by_name, "GET")),
    path("experiments/search", route(api.experiments_search, "POST", "GET", reads_only=True)),
    path("experiments/list", route(api.experiments_search, "GET")),
    path("experiments/update", route(api.experiments_update, "POST")),
    path("experiments/delete", route(api.experiments_delete, "POST")),
    path("experiments/restore", route(api.experiments_restore, "POST")),
    path("experiments/set-experiment-tag", route(api.experiments_set_tag, "POST")),
    path("experiments/delete-experiment-tag", route(api.experiments_delete_tag, "POST")),
    path("runs/create", route(api.runs_create, "POST")),
    path("runs/get", route(api.runs_get, "GET")),
    path("runs/update", route(api.runs_update, "POST")),
    path("runs/delete", route(api.runs_delete, "POST")),
    path("runs/restore", route(api.runs_restore, "POST")),
    path("runs/search", route(api.runs_search, "POST", "GET", reads_only=True)),
    path("runs/log-metric", route(api.runs_log_metric, "POST")),
    path("runs/log-batch", route(api.runs_log_batch, "POST")),
    path("runs/log-parameter", route(api.runs_log_parameter, "POST")),
    path("runs/set-tag", route(api.runs_set_tag, "POST")),
    path("runs/delete-tag", route(api.runs_delete_tag, "POST")),
    path("runs/log-inputs", route(api.runs_log_inputs, "POST")),
    path("metrics/get-history", route(api.metrics_get_history, "GET")),
    path("metrics/get-history-bulk-interval", route(api.metrics_get_history_bulk_interval, "GET")),
    path("logged-models/search", route(api.logged_models_search, "POST", reads_only=True)),
    re_path(r"^.*$", route(api.endpoint_not_found, "GET", "POST", "PATCH", "DELETE", "PUT")),
]
