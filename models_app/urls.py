from django.urls import path

from models_app import api

urlpatterns = [
    path("models/", api.ModelListCreateApi.as_view(), name="models"),
    path("models/<uuid:pk>/", api.ModelDetailApi.as_view(), name="model-detail"),
    path("models/<uuid:pk>/versions/", api.ModelVersionListCreateApi.as_view(), name="model-versions"),
    path("models/<uuid:pk>/versions/import/", api.CheckpointImportApi.as_view(), name="model-checkpoint-import"),
    path("models/<uuid:pk>/aliases/", api.AliasListSetApi.as_view(), name="model-aliases"),
    path("models/<uuid:pk>/aliases/<str:alias>/", api.AliasDetailApi.as_view(), name="model-alias"),
    path("models/<uuid:pk>/gate/", api.GateApi.as_view(), name="model-gate"),
    path("models/<uuid:pk>/gate/check/", api.GateCheckApi.as_view(), name="model-gate-check"),
    path("models/<uuid:pk>/serving/", api.ServingStatsApi.as_view(), name="model-serving"),
    path("models/<uuid:pk>/timeline/", api.ModelTimelineApi.as_view(), name="model-timeline"),
    path("models/<uuid:pk>/predict/", api.PredictApi.as_view(), name="model-predict"),
    path("predictions/", api.PredictionListApi.as_view(), name="predictions"),
    path("predictions/<uuid:pk>/", api.PredictionDetailApi.as_view(), name="prediction-detail"),
    path("predictions/<uuid:pk>/feedback/", api.FeedbackApi.as_view(), name="prediction-feedback"),
    path("model-versions/<uuid:pk>/", api.ModelVersionDetailApi.as_view(), name="model-version-detail"),
    path("model-versions/<uuid:pk>/download/", api.ModelVersionDownloadApi.as_view(), name="model-version-download"),
    path("model-versions/<uuid:pk>/files/<str:name>/", api.ModelVersionFileApi.as_view(), name="model-version-file"),
    path("evaluations/", api.EvaluationListApi.as_view(), name="evaluations"),
]
