import hashlib
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts_app.models import Role
from accounts_app.selectors import team_for_user, team_for_write
from config.renderers import FastJSONRenderer
from datasets_app import blobs
from datasets_app import selectors as dataset_selectors
from datasets_app.uploads import read_upload
from jobs_app import attempts, kinds, metrics, selectors, services, triggers
from jobs_app.filters import JobFilter, TriggerFilter
from jobs_app.models import Job, JobArtifact, RetrainTrigger, TriggerRun
from jobs_app.parsers import MetricsJSONParser
from jobs_app.serializers import (
    JobArtifactSerializer,
    JobArtifactUploadSerializer,
    JobColumnsSerializer,
    JobFinishSerializer,
    JobKindSerializer,
    JobLogsAnswerSerializer,
    JobLogSerializer,
    JobSerializer,
    JobSubmitSerializer,
    JobSubmittedSerializer,
    MetricIngestAnswerSerializer,
    MetricKeysAnswerSerializer,
    MetricPointsSerializer,
    MetricSeriesAnswerSerializer,
    RunParamsSerializer,
    TeamOverviewSerializer,
    TeamUsageSerializer,
    TriggerRunSerializer,
    TriggerSerializer,
    TriggerUpdateSerializer,
)
from jobs_app.services import tracking
from models_app import selectors as model_selectors


def _int_param(request, name: str, default: int | None, low: int, high: int) -> int | None:
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
    """Jobs of your teams, newest first (`ordering` to change it), `page_size` up to 500; filter with
    ?team=&status=queued,running&kind=&search=&created_after=&created_before=. Each job carries its
    `metric_summaries` (one query for the whole page) and its flat `params`. POST submits one (member role):
    the spec is checked at once (400 naming the field) and the job is queued on its pool."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    required_roles = {"POST": Role.MEMBER}
    team_from = "body"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Job.objects.none()
        return selectors.jobs_for_user(user=self.request.user).order_by("-created_at")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "metric_summaries": metrics.summaries(page)}
        return self.get_paginated_response(JobSerializer(page, many=True, context=context).data)

    @extend_schema(request=JobSubmitSerializer, responses={201: JobSubmittedSerializer, 200: JobSubmittedSerializer})
    def post(self, request, *args, **kwargs):
        data = JobSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = team_for_write(user=request.user, slug=values.pop("team"))
        job = services.submit_job(actor=request.user, team=team, job_id=values.pop("id", None), **values)
        answer = selectors.job_for_user(user=request.user, pk=job.pk)
        answer.warnings = job.warnings
        return Response(JobSubmittedSerializer(answer).data, status=200 if job.replayed else 201)


class JobColumnsApi(generics.GenericAPIView):
    """The runs table's column picker: `{params: [dot path], metrics: [{key, direction}]}`, the distinct
    param paths and metric keys over your jobs (the newest 2,000 of them), narrowed by ?team=<slug> (404 for
    a team that is not yours) and ?kind= (400 for an unknown kind)."""

    serializer_class = JobColumnsSerializer
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("team", OpenApiTypes.STR, description="Team slug."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(kinds.NAMES)),
        ],
        responses=JobColumnsSerializer,
    )
    def get(self, request):
        jobs = selectors.jobs_for_user(user=request.user)
        slug, kind = request.query_params.get("team"), request.query_params.get("kind")
        if slug:
            jobs = jobs.filter(team=team_for_user(user=request.user, slug=slug))
        if kind:
            if kind not in kinds.REGISTRY:
                raise ValidationError({"kind": [f"must be one of {', '.join(kinds.NAMES)}."]})
            jobs = jobs.filter(kind=kind)
        return Response(selectors.job_columns(jobs=jobs))


class JobDetailApi(generics.RetrieveAPIView):
    serializer_class = JobSerializer

    def get_object(self):
        return selectors.job_for_user(user=self.request.user, pk=self.kwargs["pk"])


class JobCancelApi(generics.GenericAPIView):
    """Cancel a job (member role). A queued job is cancelled at once; a running one stops within seconds.
    A finished job answers 409."""

    serializer_class = JobSerializer
    required_roles = {"POST": Role.MEMBER}

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, job)
        services.cancel_job(actor=request.user, job=job)
        return Response(JobSerializer(selectors.job_for_user(user=request.user, pk=pk)).data)


class JobFinishApi(generics.GenericAPIView):
    """End a tracking run: POST {status: "succeeded"|"failed", error?} (member role, and only the run's
    creator: 403 otherwise). A run that has already ended answers 409; a job of another kind 400."""

    serializer_class = JobFinishSerializer
    required_roles = {"POST": Role.MEMBER}  # and only the run's creator: see accounts_app.permissions

    @extend_schema(request=JobFinishSerializer, responses=JobSerializer)
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, job)
        data = JobFinishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.finish_run(actor=request.user, job=job, **data.validated_data)
        return Response(JobSerializer(selectors.job_for_user(user=request.user, pk=pk)).data)


class JobParamsApi(generics.GenericAPIView):
    """Log parameters of a tracking run after its start: POST {params: {name: value}} merges them into the run's
    `spec.params` (only the run's creator, also after it ended; a parameter logged before with another value is
    a 409 naming it, the same value again changes nothing)."""

    serializer_class = RunParamsSerializer
    required_roles = {"POST": Role.MEMBER}  # and only the run's creator: see jobs_app.services.tracking

    @extend_schema(request=RunParamsSerializer, responses=JobSerializer)
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, job)
        data = RunParamsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tracking.log_params(actor=request.user, job=job, params=data.validated_data["params"])
        return Response(JobSerializer(selectors.job_for_user(user=request.user, pk=pk)).data)


class JobArtifactListApi(generics.GenericAPIView):
    """Files a tracking run logged. GET lists them (`path`, `size_bytes`, `sha256`, `created_at`); POST multipart
    `file` + `path` (default: the file's name) stores one (only the run's creator; the same path again replaces
    its file; beyond the team's storage quota 409 and nothing stored)."""

    serializer_class = JobArtifactSerializer
    queryset = JobArtifact.objects.none()  # the schema's model; the answers come from selectors.artifacts
    parser_classes = [MultiPartParser, FormParser]
    required_roles = {"POST": Role.MEMBER}  # and only the run's creator: see jobs_app.services.tracking
    pagination_class = None

    @extend_schema(responses=JobArtifactSerializer(many=True))
    def get(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        return Response(JobArtifactSerializer(selectors.artifacts(job=job), many=True).data)

    @extend_schema(request=JobArtifactUploadSerializer, responses={201: JobArtifactSerializer})
    def post(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, job)
        data = JobArtifactUploadSerializer(data=read_upload(request))
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        sha256 = getattr(upload, "sha256", None)
        if sha256 is None:  # an in-memory upload (tests with small files): hash it here
            sha256 = hashlib.sha256(upload.read()).hexdigest()
            upload.seek(0)
        artifact = tracking.log_artifact(
            actor=request.user,
            job=job,
            path=data.validated_data.get("path") or upload.name,
            content=upload,
            sha256=sha256,
            size=upload.size,
        )
        return Response(JobArtifactSerializer(artifact).data, status=201)


class JobArtifactDownloadApi(generics.GenericAPIView):
    """One file a tracking run logged, streamed (404 for a path the run has not logged)."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk, path):
        job = selectors.job_for_user(user=request.user, pk=pk)
        artifact = selectors.artifacts(job=job).filter(path=path).select_related("blob").first()
        if artifact is None:
            raise NotFound(f"The run has no artifact {path!r}.")
        return blobs.download_response(artifact.blob, PurePosixPath(artifact.path).name)


class JobMetricsApi(generics.GenericAPIView):
    """GET without ?key: the job's metric keys. GET ?key=loss: the series for a chart,
    `{job, key, count, total, downsampled, truncated, points: [[step, value], ...], times: [epoch s, ...]}`:
    - `max_points=N` (default 1000, 0 for every point): a range holding more than N points comes back as
      min/max buckets (N // 2 equal step ranges, each keeping its lowest and highest point, so spikes survive);
    - `start_step`, `end_step` (inclusive, either alone): only that window, exact when it holds at most N points;
    - `after_step=S` (not with a window): the exact points with step > S, at most N of them, for polling a
      running job with the last step received (`truncated` says more are waiting).
    `count` is the points in the range asked for, `total` the points in the whole series.
    POST {points: [{key, step, value, time?}], batch_id?}: batch ingest (member role), idempotent on (key, step);
    or the same points as columns, {series: [{key, steps: [...], values: [...], times?: [...]}], batch_id?};
    `time` is the client's clock in Unix epoch seconds (default: the server's now). A `batch_id` already
    recorded for the job is answered `duplicate: true` and writes nothing (a client's safe retry). Points belong
    to their writer (jobs_app.attempts.check_writer): a worker job's come only from the worker running its
    current attempt (header X-Eco-Attempt-Token), a tracking job's only from its creator; anyone else is
    answered 403, or 409 for a worker job that is not running."""

    serializer_class = MetricPointsSerializer
    parser_classes = [MetricsJSONParser]
    renderer_classes = [FastJSONRenderer]  # a 100,000-point series renders in a fraction of json's time
    required_roles = {"POST": Role.MEMBER}  # which writer a job takes points from: see accounts_app.permissions

    @extend_schema(
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, description="the metric; omit to list keys"),
            OpenApiParameter("max_points", OpenApiTypes.INT, description="0 for every point; default 1000"),
            OpenApiParameter("start_step", OpenApiTypes.INT, description="first step of the window (inclusive)"),
            OpenApiParameter("end_step", OpenApiTypes.INT, description="last step of the window (inclusive)"),
            OpenApiParameter(
                "after_step",
                OpenApiTypes.INT,
                description="only points with a larger step, exact (-1 for the start); not with a window",
            ),
        ],
        responses=PolymorphicProxySerializer(
            component_name="JobMetrics",
            serializers=[MetricKeysAnswerSerializer, MetricSeriesAnswerSerializer],
            resource_type_field_name=None,
        ),
    )
    def get(self, request, pk):
        job = selectors.job_for_user(user=request.user, pk=pk)
        key = request.query_params.get("key")
        if not key:
            return Response({"job": str(job.pk), "keys": metrics.keys(job.pk)})
        wanted = _int_param(request, "max_points", metrics.DEFAULT_MAX_POINTS, 0, metrics.MAX_POINTS_LIMIT)
        if wanted == 1:
            raise ValidationError({"max_points": ["must be 0 (every point) or at least 2."]})
        start = _int_param(request, "start_step", None, 0, metrics.STEP_MAX)
        end = _int_param(request, "end_step", None, 0, metrics.STEP_MAX)
        after = _int_param(request, "after_step", None, -1, metrics.STEP_MAX)
        if start is not None and end is not None and start > end:
            raise ValidationError({"start_step": [f"must not be after end_step ({end})."]})
        if after is not None and (start is not None or end is not None):
            raise ValidationError({"after_step": ["cannot be combined with start_step or end_step."]})
        answer = metrics.series(
            job.pk, key, max_points=wanted or None, start_step=start, end_step=end, after_step=after
        )
        return Response({"job": str(job.pk), **answer})

    @extend_schema(
        request=MetricPointsSerializer,
        parameters=[
            OpenApiParameter(
                attempts.HEADER,
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=False,
                description="the current attempt's credential; required for a worker job's points",
            )
        ],
        responses=MetricIngestAnswerSerializer,
    )
    def post(self, request, pk):
        body = request.data
        try:
            if not isinstance(body, dict) or ("points" in body) == ("series" in body):
                raise ValidationError(
                    {"points": ["Send one of points (a list of {key, step, value}) or series (the same as columns)."]}
                )
            batch_id = metrics.check_batch_id(body.get("batch_id"))
            # PointError names the bad field (points[3].value, series[0].steps[7])
            points = metrics.check_series(body["series"]) if "series" in body else metrics.check_batch(body["points"])
        except (ValidationError, metrics.PointError):
            with transaction.atomic():  # a job the caller may not see answers 404, a role too low 403, first
                attempts.check_caller(user=request.user, job_id=pk, minimum_role=self.required_roles["POST"])
            raise
        written, duplicate = attempts.receive_points(
            user=request.user,
            job_id=pk,
            points=points,
            token=request.headers.get(attempts.HEADER),
            batch_id=batch_id,
            minimum_role=self.required_roles["POST"],
        )
        received = sum(len(one["steps"]) for one in body["series"]) if "series" in body else len(body["points"])
        return Response({"job": str(pk), "received": received, "written": written, "duplicate": duplicate})


class JobLogsApi(generics.GenericAPIView):
    """The job's log lines after line id ?after=N (default 0), oldest first, at most ?limit= (1000)."""

    serializer_class = JobLogSerializer

    @extend_schema(
        parameters=[OpenApiParameter("after", OpenApiTypes.INT), OpenApiParameter("limit", OpenApiTypes.INT)],
        responses=JobLogsAnswerSerializer,
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

    @extend_schema(responses=TeamUsageSerializer)
    def get(self, request, slug):
        team = team_for_user(user=request.user, slug=slug)
        return Response(selectors.team_usage(team=team))


class TeamOverviewApi(generics.GenericAPIView):
    """The dashboard's overview of a team in one call (any role of the team; another team is a 404): datasets,
    jobs by status with the running, queued and recent ones, models with their latest version and aliases,
    serving counts of the last 24 h, retrain triggers with the feedback waiting, and the usage."""

    @extend_schema(responses=TeamOverviewSerializer)
    def get(self, request, slug):
        team = team_for_user(user=request.user, slug=slug)
        return Response(TeamOverviewSerializer(selectors.team_overview(team=team)).data)


class TriggerListCreateApi(generics.ListCreateAPIView):
    """Retrain policies of your teams. POST {team, model, base_dataset_version, min_feedback, train, promote_if}
    (maintainer role): once `min_feedback` new labelled predictions of the model arrive (checked every
    ECO_TRIGGER_INTERVAL_S), a run chains snapshot -> train (`train` spec) -> evaluate on the gate's pinned set
    -> promote to `promote_if.alias` if the model's gate passes."""

    serializer_class = TriggerSerializer
    filterset_class = TriggerFilter
    required_roles = {"POST": Role.MAINTAINER}
    team_from = "body"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return RetrainTrigger.objects.none()
        return selectors.triggers_for_user(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = TriggerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = team_for_write(user=request.user, slug=values.pop("team")["slug"])
        model_id, dv_id = values.pop("model_id"), values.pop("base_dataset_version_id")
        model = model_selectors.models_for_user(user=request.user).filter(pk=model_id, team=team).first()
        if model is None:
            raise ValidationError({"model": [f"Model {model_id} does not exist in team '{team.slug}'."]})
        base = dataset_selectors.versions_for_user(user=request.user).filter(pk=dv_id).first()
        if base is None:
            raise ValidationError({"base_dataset_version": [f"Dataset version {dv_id} does not exist."]})
        trigger = triggers.create_trigger(
            actor=request.user, team=team, model=model, base_dataset_version=base, **values
        )
        return Response(
            TriggerSerializer(selectors.trigger_for_user(user=request.user, pk=trigger.pk)).data, status=201
        )


class TriggerDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """One retrain policy. PATCH {name, min_feedback, train, promote_if, enabled} or DELETE: maintainer role."""

    serializer_class = TriggerSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    required_roles = {"PATCH": Role.MAINTAINER, "DELETE": Role.MAINTAINER}

    def get_object(self):
        trigger = selectors.trigger_for_user(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, trigger)
        return trigger

    @extend_schema(request=TriggerUpdateSerializer, responses=TriggerSerializer)
    def patch(self, request, *args, **kwargs):
        trigger = self.get_object()
        data = TriggerUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        triggers.update_trigger(actor=request.user, trigger=trigger, **data.validated_data)
        return Response(TriggerSerializer(self.get_object()).data)

    def perform_destroy(self, instance):
        triggers.delete_trigger(actor=self.request.user, trigger=instance)


class TriggerRunListApi(generics.ListAPIView):
    """The runs of a trigger, newest first: each step's job, the snapshot and the retrained version, and
    whether it was promoted (with the failed gate checks when not)."""

    serializer_class = TriggerRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return TriggerRun.objects.none()
        trigger = selectors.trigger_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.runs_for_user(user=self.request.user).filter(trigger=trigger)


class TriggerFireApi(generics.GenericAPIView):
    """POST: start a run now, whatever the amount of new feedback (maintainer role)."""

    serializer_class = TriggerRunSerializer
    required_roles = {"POST": Role.MAINTAINER}

    @extend_schema(request=None, responses={201: TriggerRunSerializer})
    def post(self, request, pk):
        trigger = selectors.trigger_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, trigger)
        run = triggers.fire(actor=request.user, trigger=trigger)
        run = selectors.runs_for_user(user=request.user).get(pk=run.pk)
        return Response(TriggerRunSerializer(run).data, status=201)


class TriggerRunDetailApi(generics.RetrieveAPIView):
    serializer_class = TriggerRunSerializer

    def get_object(self):
        return get_object_or_404(selectors.runs_for_user(user=self.request.user), pk=self.kwargs["pk"])


class JobKindListApi(generics.ListAPIView):
    """The job kinds, each with a description and the JSON Schema of its spec (any signed-in user)."""

    serializer_class = JobKindSerializer
    filter_backends = []

    def get_queryset(self):
        return [kinds.describe(name) for name in kinds.NAMES]


class JobKindDetailApi(generics.RetrieveAPIView):
    """One job kind: its description and the JSON Schema of its spec; 404 for a kind that does not exist."""

    serializer_class = JobKindSerializer
    filter_backends = []

    def get_object(self):
        if self.kwargs["kind"] not in kinds.REGISTRY:
            raise NotFound(f"No job kind '{self.kwargs['kind']}'; kinds: {', '.join(kinds.NAMES)}.")
        return kinds.describe(self.kwargs["kind"])
