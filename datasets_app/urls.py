from django.urls import path

from datasets_app import api

urlpatterns = [
    path("datasets/", api.DatasetListCreateApi.as_view(), name="datasets"),
    path("datasets/<uuid:pk>/", api.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("datasets/<uuid:pk>/versions/", api.DatasetVersionListCreateApi.as_view(), name="dataset-versions"),
    path("dataset-versions/<uuid:pk>/", api.DatasetVersionDetailApi.as_view(), name="dataset-version-detail"),
    path("dataset-versions/<uuid:pk>/preview/", api.DatasetVersionPreviewApi.as_view(), name="dataset-version-preview"),
    path(
        "dataset-versions/<uuid:pk>/download/",
        api.DatasetVersionDownloadApi.as_view(),
        name="dataset-version-download",
    ),
    path("dataset-versions/<uuid:pk>/export/", api.DatasetVersionExportApi.as_view(), name="dataset-version-export"),
    path("dataset-versions/<uuid:pk>/stats/", api.DatasetVersionStatsApi.as_view(), name="dataset-version-stats"),
    path(
        "dataset-versions/<uuid:pk>/lineage/",
        api.DatasetVersionLineageApi.as_view(),
        name="dataset-version-lineage",
    ),
]
