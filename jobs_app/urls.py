from django.urls import path

from jobs_app import api

urlpatterns = [
    path("jobs/", api.JobListCreateApi.as_view(), name="jobs"),
    path("jobs/<uuid:pk>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/cancel/", api.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/metrics/", api.JobMetricsApi.as_view(), name="job-metrics"),
    path("jobs/<uuid:pk>/logs/", api.JobLogsApi.as_view(), name="job-logs"),
    path("teams/<slug:slug>/usage/", api.TeamUsageApi.as_view(), name="team-usage"),
]
