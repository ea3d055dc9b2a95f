from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts_app.models import Role
from accounts_app.selectors import team_for_write
from config.parsers import FastJSONParser, FormParser, JSONParser, MultiPartParser
from config.renderers import FastJSONRenderer
from datasets_app import blobs
from datasets_app import selectors as dataset_selectors
from datasets_app.uploads import read_upload
from models_app import gates, selectors, services, serving, serving_stats, timeline
from models_app.filters import EvaluationFilter, ModelFilter, PredictionFilter
from models_app.models import Evaluation, ModelAlias, ModelVersion, PredictionLog, RegisteredModel
from models_app.serializers import (
    AliasSerializer,
    CheckpointImportSerializer,
    EvaluationSerializer,
    FeedbackSerializer,
    GateCheckRequestSerializer,
    GateCheckResponseSerializer,
    GateSerializer,
    ModelVersionCreateSerializer,
    ModelVersionSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    RegisteredModelSerializer,
    RegisteredModelUpdateSerializer,
    ServingStatsQuerySerializer,
    ServingStatsSerializer,
    TimelineSerializer,
)


class ModelListCreateApi(generics.ListCreateAPIView):
    """Registered models of your teams. Filter with ?team=&task=&search=."""

    serializer_class = RegisteredModelSerializer
    filterset_class = ModelFilter
    required_roles = {"POST": Role.MEMBER}
    team_from = "body"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return RegisteredModel.objects.none()
        return selectors.models_for_user(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = RegisteredModelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = team_for_write(user=request.user, slug=values.pop("team")["slug"])
        model = services.create_model(actor=request.user, team=team, **values)
        model = selectors.model_for_user(user=request.user, pk=model.pk)
        return Response(RegisteredModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """One model, with its aliases. Editing (name, description, card) needs member; deleting, maintainer.

    DELETE is a soft delete (204): the model, its versions, aliases and predictions answer 404 at once (and it no
    longer serves) and are purged, blobs included when nothing else uses them, after ECO_RETENTION_DAYS (default
    30); until then a staff user can restore it in the Django admin (action "Restore"). 409 while something still
    uses it."""

    serializer_class = RegisteredModelSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    required_roles = {"PATCH": Role.MEMBER, "DELETE": Role.MAINTAINER}

    def get_object(self):
        model = selectors.model_for_user(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, model)
        return model

    @extend_schema(request=RegisteredModelUpdateSerializer, responses=RegisteredModelSerializer)
    def patch(self, request, *args, **kwargs):
        model = self.get_object()
        data = RegisteredModelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_model(actor=request.user, model=model, **data.validated_data)
        return Response(RegisteredModelSerializer(self.get_object()).data)

    def perform_destroy(self, instance):
        services.delete_model(actor=self.request.user, model=instance)


class ModelVersionListCreateApi(generics.ListCreateAPIView):
    """Versions of a model, newest first. POST multipart `weights` + `spec` (JSON) to register one: safetensors
    with an architecture spec, or (`format` "onnx") an ONNX graph with its serving spec; `job` names the
    tracking run that made it."""

    serializer_class = ModelVersionSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]  # multipart first: uploads
    required_roles = {"POST": Role.MEMBER}  # in the model's team

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ModelVersion.objects.none()
        model = selectors.model_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.versions_for_user(user=self.request.user).filter(model=model).order_by("-version")

    @extend_schema(request=ModelVersionCreateSerializer, responses={201: ModelVersionSerializer})
    def post(self, request, *args, **kwargs):
        model = selectors.model_for_user(user=request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(request, model)
        data = ModelVersionCreateSerializer(data=read_upload(request))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        visible = dataset_selectors.versions_for_user(user=request.user).filter(dataset__team=model.team)
        found = {dv.pk: dv for dv in visible.filter(pk__in=values["dataset_versions"])}
        missing = [str(pk) for pk in values["dataset_versions"] if pk not in found]
        if missing:
            raise ValidationError({"dataset_versions": [f"Dataset version {', '.join(missing)} does not exist."]})
        version = services.create_version_from_upload(
            actor=request.user,
            model=model,
            weights=values["weights"],
            spec=values["spec"],
            metrics=values["metrics"],
            params=values["params"],
            dataset_versions=list(found.values()),
            description=values["description"],
            fmt=values["format"],
            run=values["job"],
        )
        version = selectors.version_for_user(user=request.user, pk=version.pk)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class CheckpointImportApi(generics.GenericAPIView):
    """Import a Hugging Face checkpoint as the model's next version (format `hf`): multipart `files` (the
    folder's files) or `archive` (one .zip or .tar.gz of the folder). Safetensors weights only; a config whose
    model type Eco does not fine-tune, or that brings its own code (auto_map, .py files), is refused, as are
    pickled weights and tensors that do not fit the config (400 on `files`, nothing stored)."""

    serializer_class = ModelVersionSerializer
    parser_classes = [MultiPartParser]
    required_roles = {"POST": Role.MEMBER}  # in the model's team

    @extend_schema(request={"multipart/form-data": CheckpointImportSerializer}, responses={201: ModelVersionSerializer})
    def post(self, request, pk):
        model = selectors.model_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, model)
        data = CheckpointImportSerializer(data=read_upload(request))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        version = services.import_checkpoint(
            actor=request.user,
            model=model,
            files=values["files"],
            archive=values["archive"],
            description=values["description"],
            metrics=values["metrics"],
            params=values["params"],
        )
        version = selectors.version_for_user(user=request.user, pk=version.pk)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class ModelVersionFileApi(generics.GenericAPIView):
    """One file of a version stored as a folder (format hf), by its name, streamed."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk, name):
        version = selectors.version_for_user(user=request.user, pk=pk)
        found = next((f for f in version.files.all() if f.name == name), None)
        if found is None:
            raise NotFound(f"Version {version.version} has no file named {name!r}.")
        return blobs.download_response(found.blob, name)


class ModelVersionDetailApi(generics.RetrieveAPIView):
    serializer_class = ModelVersionSerializer

    def get_object(self):
        return selectors.version_for_user(user=self.request.user, pk=self.kwargs["pk"])


class ModelVersionDownloadApi(generics.GenericAPIView):
    """The version's weights file (safetensors), streamed."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk):
        version = selectors.version_for_user(user=request.user, pk=pk)
        return blobs.download_response(version.blob, f"{version.model.name}-v{version.version}.{version.format}")


class AliasListSetApi(generics.ListCreateAPIView):
    """A model's aliases. POST {alias, version} points an alias at a version (member role); audited. An alias
    the model's gate protects moves only if the version passes the gate, else 409 with the failed `checks`;
    a team admin may add `force: true` and a non-empty `reason` (400 on `reason` without one) to move it anyway,
    which is audited as a force. POST /models/{id}/gate/check/ runs the same checks without moving anything."""

    serializer_class = AliasSerializer
    required_roles = {"POST": Role.MEMBER}  # in the model's team; forcing past the gate: services.set_alias

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ModelAlias.objects.none()
        model = selectors.model_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return model.aliases.select_related("version", "updated_by").order_by("alias")

    @extend_schema(request=AliasSerializer, responses={200: AliasSerializer})
    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        model = selectors.model_for_user(user=request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(request, model)
        data = AliasSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = (
            selectors.versions_for_user(user=request.user)
            .filter(pk=data.validated_data["version_id"], model=model)
            .first()
        )
        if version is None:
            missing = data.validated_data["version_id"]
            raise ValidationError({"version": [f"Model '{model.name}' has no version {missing}."]})
        alias = services.set_alias(
            actor=request.user,
            model=model,
            alias=data.validated_data["alias"],
            version=version,
            force=data.validated_data["force"],
            reason=data.validated_data["reason"],
        )
        return Response(AliasSerializer(alias).data, status=status.HTTP_200_OK)


class AliasDetailApi(generics.RetrieveDestroyAPIView):
    serializer_class = AliasSerializer
    required_roles = {"DELETE": Role.MEMBER}  # a gate-protected alias: services.delete_alias

    def get_object(self):
        alias = selectors.alias_for_user(user=self.request.user, model_pk=self.kwargs["pk"], alias=self.kwargs["alias"])
        self.check_object_permissions(self.request, alias)
        return alias

    def perform_destroy(self, instance):
        services.delete_alias(actor=self.request.user, alias=instance)


class EvaluationListApi(generics.ListAPIView):
    """Evaluations of your teams' model versions. Filter with ?model_version=&dataset_version=&split=&team=;
    with ?dataset_version= the list is a leaderboard of one split (`test` unless ?split= says otherwise):
    best headline score (accuracy, or R²) first."""

    serializer_class = EvaluationSerializer
    filterset_class = EvaluationFilter  # with ?dataset_version=, a leaderboard

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Evaluation.objects.none()
        return selectors.evaluations_for_user(user=self.request.user).order_by("-created_at")


class GateApi(generics.GenericAPIView):
    """The model's promotion gate. GET it; PUT {dataset_version, metric?, direction?, split?, min_gain?,
    max_overlap?, required_card_fields?, aliases?} sets it (maintainer role); DELETE removes it. `aliases` defaults to
    ["production"], `metric` to the task's headline metric, `split` to all (pin a set no model trains on)."""

    serializer_class = GateSerializer
    required_roles = {"PUT": Role.MAINTAINER, "DELETE": Role.MAINTAINER}

    def get_object(self):  # also what OPTIONS looks at to describe PUT
        gate = selectors.gate_for_user(user=self.request.user, model_pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, gate)
        return gate

    def get(self, request, pk):
        return Response(GateSerializer(selectors.gate_for_user(user=request.user, model_pk=pk)).data)

    def put(self, request, pk):
        model = selectors.model_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, model)
        data = GateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        dv_id = values.pop("dataset_version_id")
        dataset_version = dataset_selectors.versions_for_user(user=request.user).filter(pk=dv_id).first()
        if dataset_version is None:
            raise ValidationError({"dataset_version": [f"Dataset version {dv_id} does not exist."]})
        services.set_gate(
            actor=request.user,
            model=model,
            dataset_version=dataset_version,
            metric=values["metric"] or None,
            direction=values["direction"] or None,
            split=values["split"],
            min_gain=values["min_gain"],
            max_overlap=values["max_overlap"],
            required_card_fields=values["required_card_fields"],
            aliases=values["aliases"],
        )
        return Response(GateSerializer(selectors.gate_for_user(user=request.user, model_pk=pk)).data)

    def delete(self, request, pk):
        gate = self.get_object()
        services.delete_gate(actor=request.user, gate=gate)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GateCheckApi(generics.GenericAPIView):
    """Dry run of an alias move: POST {alias, version} (version: id or number) runs exactly the checks the real
    move (POST /models/{id}/aliases/) runs, with the same code (`gates.report`), and writes nothing (but the
    leakage check's cache of row hashes, computed by whichever check needs them first). Member role,
    like the move. An alias the gate does not protect answers gated=false, passed=true, checks=[]."""

    serializer_class = GateCheckRequestSerializer
    required_roles = {"POST": Role.MEMBER}  # in the model's team, as for the move itself

    @extend_schema(request=GateCheckRequestSerializer, responses={200: GateCheckResponseSerializer})
    def post(self, request, pk):
        model = selectors.model_for_user(user=request.user, pk=pk)
        self.check_object_permissions(request, model)
        data = GateCheckRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = selectors.version_of_model(user=request.user, model=model, ref=data.validated_data["version"])
        alias = data.validated_data["alias"]
        result = gates.report(model=model, version=version, alias=alias)
        current = result["current"]
        # the checks as `gates.report` made them (the real move's 409 carries the same dicts); the serializer
        # describes them for the schema, where a check's measured values are optional keys
        return Response(
            {
                "alias": alias,
                "version": {"id": str(version.pk), "version": version.version},
                "current": {"id": str(current.pk), "version": current.version} if current is not None else None,
                "gated": result["gated"],
                "passed": result["passed"],
                "checks": result["checks"],
                "pinned_dataset_version": result["pinned_dataset_version"],
            }
        )


class PredictApi(generics.GenericAPIView):
    """Predict with the version an alias points at (`alias`) or a given `version` (id or number). `inputs`:
    rows (a list of numbers in feature order, or an object of features), texts, or images (an H x W list).
    Each prediction has an `id` to send feedback to. Any team role may predict. Every request of a caller who
    may see the model, answered or refused, is logged as one ServingRequest (GET /models/{id}/serving/)."""

    parser_classes = [FastJSONParser]
    renderer_classes = [FastJSONRenderer]
    serializer_class = PredictRequestSerializer  # what OPTIONS describes; the body is checked by serving.predict

    @extend_schema(request=PredictRequestSerializer, responses=PredictResponseSerializer)
    def post(self, request, pk):
        facts = serving.RequestFacts()
        try:
            try:
                response = Response(self._predict(request, pk, facts))
            except Exception as exc:  # the house error answer, as dispatch would give it; re-raised when none (5xx)
                response = self.handle_exception(exc)
        except Exception as exc:
            serving.log_request(facts, user=request.user, model_pk=pk, status_code=500, error=type(exc).__name__)
            raise
        error = response.data.get("detail", "") if response.status_code >= 400 and response.data else ""
        serving.log_request(facts, user=request.user, model_pk=pk, status_code=response.status_code, error=str(error))
        return response

    def _predict(self, request, pk, facts: serving.RequestFacts) -> dict:
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        unknown = sorted(set(body) - {"alias", "version", "inputs", "runtime"})
        if unknown:
            raise ValidationError({unknown[0]: ["Unknown field; known: alias, version, inputs, runtime."]})
        return serving.predict(
            user=request.user,
            model_pk=pk,
            alias=body.get("alias"),
            version=body.get("version"),
            inputs=body.get("inputs"),
            runtime=body.get("runtime", "auto"),
            facts=facts,
        )


class ServingStatsApi(generics.GenericAPIView):
    """Serving statistics of a model per time bucket: ?version=<id|number>&bucket=<seconds>&since=<iso>&until=<iso>
    (defaults: the last 24 h, a bucket of whole minutes giving at most 200 buckets; at least 60 s, at most
    1000 buckets, a window of at most 400 days). Requests come from the serving request log; feedback,
    correct and accuracy from the feedback given on predictions made in each bucket. Any team role."""

    serializer_class = ServingStatsSerializer

    @extend_schema(parameters=[ServingStatsQuerySerializer], responses=ServingStatsSerializer)
    def get(self, request, pk):
        model = selectors.model_for_user(user=request.user, pk=pk)
        query = ServingStatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        until = values.get("until") or timezone.now()
        try:
            since = values.get("since") or until - serving_stats.DEFAULT_SPAN
        except OverflowError:
            raise ValidationError({"until": ["Too early a date."]}) from None
        if since >= until:
            raise ValidationError({"since": ["must be before `until`."]})
        if until - since > serving_stats.MAX_SPAN:
            raise ValidationError({"since": [f"The window is at most {serving_stats.MAX_SPAN.days} days."]})
        bucket_s = values.get("bucket") or serving_stats.default_bucket_s(until - since)
        if (until - since).total_seconds() / bucket_s > serving_stats.MAX_BUCKETS:
            raise ValidationError(
                {"bucket": [f"This window at this width is over {serving_stats.MAX_BUCKETS} buckets."]}
            )
        version = None
        if "version" in values:
            version = selectors.version_of_model(user=request.user, model=model, ref=values["version"])
        stats = serving_stats.serving_stats(model=model, version=version, since=since, until=until, bucket_s=bucket_s)
        return Response(ServingStatsSerializer(stats).data)


class ModelTimelineApi(generics.GenericAPIView):
    """The model's story as a graph: data versions -> train jobs -> versions -> alias moves (from the audit
    trail) -> predictions and feedback (one node each per version) -> retrain trigger runs (snapshot -> retrain
    job -> new version). Node types and their `data`: models_app.timeline.model_timeline. Any team role."""

    serializer_class = TimelineSerializer

    @extend_schema(responses=TimelineSerializer)
    def get(self, request, pk):
        model = selectors.model_for_user(user=request.user, pk=pk)
        return Response(TimelineSerializer(timeline.model_timeline(model=model)).data)


class PredictionListApi(generics.ListAPIView):
    """Predictions served by your teams' models, newest first. Filter with ?model=&model_version=&has_feedback=."""

    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return PredictionLog.objects.none()
        return selectors.predictions_for_user(user=self.request.user)


class PredictionDetailApi(generics.RetrieveAPIView):
    serializer_class = PredictionSerializer

    def get_object(self):
        return selectors.prediction_for_user(user=self.request.user, pk=self.kwargs["pk"])


class FeedbackApi(generics.GenericAPIView):
    """POST {label}: the true label of a served prediction (member role). Given again, it replaces the
    earlier label. Feedback sent right after the prediction waits a moment for its log row to be written.
    A retrain trigger counts labelled predictions and snapshots them into new data."""

    serializer_class = FeedbackSerializer
    required_roles = {"POST": Role.MEMBER}

    @extend_schema(request=FeedbackSerializer, responses=PredictionSerializer)
    def post(self, request, pk):
        prediction = serving.logged_prediction(user=request.user, pk=pk)
        self.check_object_permissions(request, prediction)
        data = FeedbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.record_feedback(actor=request.user, prediction=prediction, label=data.validated_data["label"])
        return Response(PredictionSerializer(selectors.prediction_for_user(user=request.user, pk=pk)).data)
