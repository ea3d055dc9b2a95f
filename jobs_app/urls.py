from django.urls import path

from jobs_app import api

urlpatterns = [
    path("jobs/", api.JobListCreateApi.as_view(), name="jobs"),
    path("jobs/columns/", api.JobColumnsApi.as_view(), name="job-columns"),
    path("jobs/<uuid:pk>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/cancel/", api.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/finish/", api.JobFinishApi.as_view(), name="job-finish"),
    path("jobs/<uuid:pk>/params/", api.JobParamsApi.as_view(), name="job-params"),
    path("jobs/<uuid:pk>/artifacts/", api.JobArtifactListApi.as_view(), name="job-artifacts"),
    path("jobs/<uuid:pk>/artifacts/<path:path>", api.JobArtifactDownloadApi.as_view(), name="job-artifact"),
    path("jobs/<uuid:pk>/metrics/", api.JobMetricsApi.as_view(), name="job-metrics"),
    path("jobs/<uuid:pk>/logs/", api.JobLogsApi.as_view(), name="job-logs"),
    path("job-kinds/", api.JobKindListApi.as_view(), name="job-kinds"),
    path("job-kinds/<str:kind>/", api.JobKindDetailApi.as_view(), name="job-kind-detail"),
    path("teams/<slug:slug>/usage/", api.TeamUsageApi.as_view(), name="team-usage"),
    path("teams/<slug:slug>/overview/", api.TeamOverviewApi.as_view(), name="team-overview"),
    path("triggers/", api.TriggerListCreateApi.as_view(), name="triggers"),
    path("triggers/<uuid:pk>/", api.TriggerDetailApi.as_view(), name="trigger-detail"),
    path("triggers/<uuid:pk>/runs/", api.TriggerRunListApi.as_view(), name="trigger-runs"),
    path("triggers/<uuid:pk>/fire/", api.TriggerFireApi.as_view(), name="trigger-fire"),
    path("trigger-runs/<uuid:pk>/", api.TriggerRunDetailApi.as_view(), name="trigger-run-detail"),
]
