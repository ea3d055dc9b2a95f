from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api import api_not_found
from config.dashboard import dashboard
from config.health import HealthApi

api_v1 = [
    path("health/", HealthApi.as_view(), name="health"),
    path("", include("accounts_app.urls")),
    path("", include("datasets_app.urls")),
    path("", include("models_app.urls")),
    path("", include("jobs_app.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its start-up script as a file: the content security policy allows no inline script
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    # MLflow's tracking protocol: its clients log to Eco with MLFLOW_TRACKING_URI pointing here
    path("api/2.0/mlflow/", include("mlflow_app.urls")),
    path("api/2.0/mlflow-artifacts/", include("mlflow_app.artifact_urls")),
    # last of the API: any other /api/ URL (an id that is not a UUID, a typo) answers the JSON error body,
    # whatever DEBUG says (Django's handler404 is skipped in DEBUG)
    re_path(r"^api/", api_not_found),
    # the dashboard owns every other path (deep links); its files come from WhiteNoise (WHITENOISE_ROOT)
    re_path(r"^(?!(?:admin|static|api-auth)(?:/|$))(?P<path>.*)$", dashboard, name="home"),
]

handler400 = "config.api.handler400"
handler403 = "config.api.handler403"
handler404 = "config.api.handler404"
handler500 = "config.api.handler500"

admin.site.site_header = "Eco administration"
admin.site.site_title = "Eco admin"
