from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from accounts_app.models import Role
from accounts_app.selectors import ensure_role, team_for_user, team_for_write
from jobs_app import metrics, selectors, services
from jobs_app.models import Job, JobKind, JobStatus
from jobs_app.serializers import JobLogSerializer, JobSerializer, JobSubmitSerializer, MetricPointsSerializer


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"must be an integer from {low} to {high}."]}) from None
    if not low <= value <= high:
        raise ValidationError({name: [f"must be an integer from {low} to {high}."]})
    return value


class JobListCreateApi(generics.ListCreateAPIView):
    """Jobs of your teams, newest first; filter with ?team=&status=&kind=. POST submits one (member role):
    the spec is checked at once (400 naming the field) and the job is queued on its pool."""

    serializer_class = JobSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Job.objects.none()
        qs = selectors.jobs_for_user(user=self.request.user)
        params = self.request.query_params
        if team := params.get("team"):
            qs = qs.filter(team__slug=team)
        for name, choices in (("status", JobStatus.values), ("kind", JobKind.values)):
            if value := params.get(name):
                if value not in choices:
                    raise ValidationError({name: [f"must be one of {', '.join(choices)}."]})
                qs = qs.filter(**{name: value})
        return qs.order_by("-created_at")

    @extend_schema(request=JobSubmitSerializer, responses={201: JobSerializer})
    def post(self, request, *args, **kwargs):
        data = JobSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = team_for_write(user=request.user, slug=values.pop("team"))
        job = services.submit_job(actor=request.user, team=team, **values)
        return Response(JobSerializer(selectors.job_for_user(user=request.user, pk=job.pk)).data, status=201)


class JobDetailApi(generics.RetrieveAPIView):
    serializer_class = JobSerializer

    def get_object(self):
        return selectors.job_for_user(user=self.request.user, pk=self.kwargs["pk"])


class JobCancelApi(generics.GenericAPIView):
    """Cancel a job (member role). A queued job is cancelled at once; a running one stops within seconds.
    A finished job answers 409."""

    serializer_class = JobSerializer

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        ensure_role(user=request.user, team=job.team, minimum=Role.MEMBER)
        services.cancel_job(actor=request.user, job=job)
        return Response(JobSerializer(selectors.job_for_user(user=request.user, pk=pk)).data)


class JobMetricsApi(generics.GenericAPIView):
    """GET without ?key: the job's metric keys. GET ?key=loss&max_points=N: the series [[step, value], ...],
    downsampled to at most N points (min/max buckets keep spikes; default 1000, max_points=0 for every point).
    POST {points: [{key, step, value}]}: batch ingest (member role), idempotent on (key, step)."""

    serializer_class = MetricPointsSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, description="the metric; omit to list keys"),
            OpenApiParameter("max_points", OpenApiTypes.INT, description="0 for every point; default 1000"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        key = request.query_params.get("key")
        if not key:
            return Response({"job": str(job.pk), "keys": metrics.keys(job.pk)})
        wanted = _int_param(request, "max_points", metrics.DEFAULT_MAX_POINTS, 0, metrics.MAX_POINTS_LIMIT)
        if wanted == 1:
            raise ValidationError({"max_points": ["must be 0 (every point) or at least 2."]})
        return Response({"job": str(job.pk), **metrics.series(job.pk, key, max_points=wanted or None)})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        ensure_role(user=request.user, team=job.team, minimum=Role.MEMBER)
        body = request.data
        if not isinstance(body, dict) or "points" not in body:
            raise ValidationError({"points": ["This field is required: a list of {key, step, value}."]})
        try:
            points = metrics.check_points(body["points"])
        except metrics.PointError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        written = metrics.ingest(job.pk, points)
        return Response({"job": str(job.pk), "received": len(body["points"]), "written": written})


class JobLogsApi(generics.GenericAPIView):
    """The job's log lines after line id ?after=N (default 0), oldest first, at most ?limit= (1000)."""

    serializer_class = JobLogSerializer

    @extend_schema(
        parameters=[OpenApiParameter("after", OpenApiTypes.INT), OpenApiParameter("limit", OpenApiTypes.INT)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        after = _int_param(request, "after", 0, 0, 2**63 - 1)
        limit = _int_param(request, "limit", 1000, 1, 10_000)
        lines = selectors.log_lines(job=job, after=after, limit=limit)
        return Response(
            {
                "job": str(job.pk),
                "status": job.status,
                "results": JobLogSerializer(lines, many=True).data,
                "next_after": lines[-1].id if lines else after,
            }
        )


class TeamUsageApi(generics.GenericAPIView):
    """What a team uses: running jobs, jobs by status, CPU and GPU seconds, storage bytes, and its quota
    (none yet: quotas arrive with resource governance). Any member may read it."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, slug):
        team = team_for_user(user=request.user, slug=slug)
        return Response(selectors.team_usage(team=team))
