import math
import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts_app.fields import NameField
from accounts_app.models import slug_validator
from config.jsonsafe import parse_json, unsafe_text
from models_app.models import (
    MAX_CARD_CHARS,
    Direction,
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    PredictionLog,
    RegisteredModel,
    Split,
    alias_validator,
)

MAX_SPEC_BYTES = 1024 * 1024
METRICS_HELP = (
    "Metric name -> value. Numbers (classification: accuracy, precision_macro, recall_macro, f1_macro, "
    "log_loss; regression: mae, rmse, r2), beside classification's confusion_matrix ({labels: [class name], "
    "matrix: [[count]]}, rows: true class, columns: predicted) and per_class ({class name: {precision, recall, "
    "f1, support}} over the classes in the rows or the predictions); val_* are the same on the validation rows."
)


CARD_HELP = (
    "The model card: Markdown (intended use, data, limits, ethics), at most 100000 characters. Its headings are "
    "the sections a promotion gate's required_card_fields ask for. Kept as sent (whitespace included)."
)


class RegisteredModelSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", validators=[slug_validator])
    name = NameField(max_length=200)
    card = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_CARD_CHARS, help_text=CARD_HELP
    )
    aliases = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    num_versions = serializers.IntegerField(read_only=True, default=0)
    latest_version = serializers.IntegerField(read_only=True, default=None, allow_null=True)
    formats = serializers.SerializerMethodField(
        help_text="The weights formats of its versions, sorted (hf: a Hugging Face checkpoint, imported or fine-tuned)."
    )

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "team",
            "name",
            "description",
            "task",
            "card",
            "aliases",
            "num_versions",
            "latest_version",
            "formats",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {  # empty only for a model registered through MLflow's client, which names no task
            "task": {
                "required": True,
                "allow_blank": False,
                "help_text": "The model's task; empty only for a model registered through MLflow without one.",
            }
        }

    def get_formats(self, obj) -> list[str]:
        return sorted(getattr(obj, "formats", None) or [])

    def get_aliases(self, obj) -> dict[str, str]:
        return {a.alias: str(a.version_id) for a in obj.aliases.all()}


class RegisteredModelUpdateSerializer(serializers.Serializer):
    name = NameField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    card = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_CARD_CHARS, help_text=CARD_HELP
    )

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({f: ["This field cannot be changed."] for f in sorted(unknown)})
        return attrs


class VersionFileSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="blob_id", read_only=True)
    size_bytes = serializers.IntegerField(source="blob.size_bytes", read_only=True)

    class Meta:
        model = ModelVersionFile
        fields = ["name", "sha256", "size_bytes"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.UUIDField(source="model_id", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    sha256 = serializers.CharField(source="blob_id", read_only=True)
    size_bytes = serializers.IntegerField(source="blob.size_bytes", read_only=True)
    dataset_versions = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    job = serializers.UUIDField(
        source="job_id", read_only=True, allow_null=True, default=None, help_text="The job that made it, if any."
    )
    parent = serializers.UUIDField(source="parent_id", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    files = VersionFileSerializer(
        many=True,
        read_only=True,
        help_text="The files of a version stored as a folder (format hf: config.json, the safetensors weights, "
        "the tokenizer's files); empty for a one-file version.",
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_name",
            "team",
            "version",
            "status",
            "format",
            "metrics",
            "params",
            "dataset_versions",
            "job",
            "parent",
            "sha256",
            "size_bytes",
            "spec",
            "num_parameters",
            "tensors",
            "files",
            "aliases",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"metrics": {"help_text": METRICS_HELP}}

    def get_dataset_versions(self, obj) -> list[str]:
        return [str(link.dataset_version_id) for link in obj.dataset_links.all()]

    def get_aliases(self, obj) -> list[str]:
        return [a.alias for a in obj.aliases.all()]


class StrictJSONField(serializers.JSONField):
    """JSON that a jsonb column can hold: strict parsing of multipart strings, bounded depth, finite numbers."""

    def to_internal_value(self, data):
        if isinstance(data, (str, bytes)) and (getattr(data, "is_json_string", False) or self.binary):
            try:
                data = parse_json(data)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        if problem := unsafe_text(data):
            raise serializers.ValidationError(problem)
        return data


@extend_schema_field(OpenApiTypes.OBJECT)
class SpecField(serializers.Field):
    """The architecture spec: a JSON object, a JSON string, or an uploaded .json file."""

    def to_internal_value(self, data):
        if hasattr(data, "read"):
            if data.size > MAX_SPEC_BYTES:
                raise serializers.ValidationError(f"The spec file is larger than {MAX_SPEC_BYTES} bytes.")
            data = data.read()
        if isinstance(data, (str, bytes)):
            try:
                data = parse_json(data)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("The spec must be a JSON object.")
        if problem := unsafe_text(data, "spec"):
            raise serializers.ValidationError(problem)
        return data

    def to_representation(self, value):
        return value


def _finite_numbers(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"{name} must be a JSON object.")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise serializers.ValidationError(f"{name}['{key}'] must be a finite number, got {number!r}.")
    return value


class ModelVersionCreateSerializer(serializers.Serializer):
    weights = serializers.FileField(
        help_text="The model file: safetensors weights, or an ONNX graph of standard operators (with format "
        '"onnx"). Its content must be the declared format; TorchScript and pickles (.pt, .pth, .pkl, .joblib) '
        "are refused."
    )
    spec = SpecField(
        help_text='For safetensors, the architecture spec, e.g. {"architecture": "mlp", ...}; for ONNX, the serving '
        'spec: {"task", "target", "outputs", "preprocessing": {"kind": "tabular"|"image"|"text", "classes", ...}} '
        "(see the README, Models you bring)."
    )
    format = serializers.CharField(
        required=False, default="safetensors", help_text='"safetensors" (the default) or "onnx".'
    )
    job = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The tracking run (a job of kind tracking you started, in the model's team) that made this "
        "version; recorded as its lineage (the version's `job`).",
    )
    metrics = StrictJSONField(required=False, default=dict)
    params = StrictJSONField(required=False, default=dict)
    dataset_versions = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_metrics(self, value):
        return _finite_numbers(value, "metrics")

    def validate_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("params must be a JSON object.")
        return value


class CheckpointImportSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="The checkpoint folder's files, each under its name in the folder: config.json, model.safetensors "
        "(or its shards and model.safetensors.index.json) and the tokenizer's files (tokenizer.json, vocab.txt...). "
        "Other files are left out; code (.py) and pickled weights (.bin, .pt) are refused.",
    )
    archive = serializers.FileField(
        required=False, default=None, help_text="Instead of files: one .zip or .tar(.gz) of the checkpoint folder."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
    metrics = StrictJSONField(required=False, default=dict)
    params = StrictJSONField(required=False, default=dict)

    def validate_metrics(self, value):
        return _finite_numbers(value, "metrics")

    def validate_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("params must be a JSON object.")
        return value


class AliasSerializer(serializers.ModelSerializer):
    alias = NameField(max_length=50, validators=[alias_validator])
    version = serializers.UUIDField(source="version_id")
    force = serializers.BooleanField(
        write_only=True, required=False, default=False, help_text="Move past a failing gate (team admin; audited)."
    )
    reason = serializers.CharField(write_only=True, required=False, allow_blank=True, default="", max_length=1000)
    model = serializers.UUIDField(source="model_id", read_only=True)
    version_number = serializers.IntegerField(source="version.version", read_only=True)
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = ModelAlias
        fields = ["alias", "version", "version_number", "model", "updated_by", "updated_at", "force", "reason"]
        read_only_fields = ["model", "version_number", "updated_by", "updated_at"]


class EvaluationSerializer(serializers.ModelSerializer):
    model = serializers.UUIDField(source="model_version.model_id", read_only=True)
    model_name = serializers.CharField(source="model_version.model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    team = serializers.CharField(source="model_version.model.team.slug", read_only=True)
    dataset = serializers.CharField(source="dataset_version.dataset.name", read_only=True)
    job = serializers.UUIDField(
        source="job_id", read_only=True, allow_null=True, default=None, help_text="The job that made it, if any."
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "model_version",
            "model",
            "model_name",
            "version",
            "team",
            "dataset_version",
            "dataset",
            "split",
            "metric",
            "score",
            "metrics",
            "num_rows",
            "job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"metrics": {"help_text": METRICS_HELP}}


class GateSerializer(serializers.ModelSerializer):
    model = serializers.UUIDField(source="model_id", read_only=True)
    dataset_version = serializers.UUIDField(source="dataset_version_id", help_text="The pinned evaluation set.")
    metric = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False, allow_blank=True, default="")
    split = serializers.ChoiceField(choices=Split.choices, required=False, default=Split.ALL)
    min_gain = serializers.FloatField(required=False, default=0.0)
    max_overlap = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=2**31 - 1,
        help_text="How many distinct rows of the pinned set a candidate's training data may share (the leakage "
        "check, which compares rows by content); 0 by default.",
    )
    required_card_fields = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=50
    )
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=50, validators=[alias_validator]),
        required=False,
        default=list,
        max_length=20,
    )
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = GatePolicy
        fields = [
            "model",
            "metric",
            "direction",
            "dataset_version",
            "split",
            "min_gain",
            "max_overlap",
            "required_card_fields",
            "aliases",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = ["model", "updated_by", "updated_at"]

    def validate_min_gain(self, value):
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number.")
        return value


class PredictRequestSerializer(serializers.Serializer):
    """For the schema only: the view checks the body itself (it is on the hot path)."""

    alias = serializers.CharField(required=False, help_text="e.g. production; or give `version`.")
    version = serializers.JSONField(required=False, help_text="A version id or version number.")
    inputs = serializers.ListField(child=serializers.JSONField(), help_text="Rows, texts, or images.")
    runtime = serializers.ChoiceField(choices=["auto", "torch", "onnxruntime"], required=False, default="auto")


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.UUIDField()
    model_version = serializers.UUIDField()
    version = serializers.IntegerField()
    alias = serializers.CharField(allow_null=True)
    runtime = serializers.CharField()
    latency_ms = serializers.FloatField()
    predictions = serializers.ListField(child=serializers.DictField())


class PredictionSerializer(serializers.ModelSerializer):
    model = serializers.UUIDField(source="model_id", read_only=True)
    model_version = serializers.UUIDField(source="model_version_id", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    feedback_by = serializers.CharField(source="feedback_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = PredictionLog
        fields = [
            "id",
            "model",
            "model_version",
            "version",
            "alias",
            "runtime",
            "input",
            "output",
            "latency_ms",
            "batch_size",
            "created_by",
            "created_at",
            "feedback",
            "feedback_by",
            "feedback_at",
        ]
        read_only_fields = fields


class FeedbackSerializer(serializers.Serializer):
    label = serializers.JSONField(help_text="The true label: one of the model's classes, or a number for regression.")


class VersionRefField(serializers.JSONField):
    """A model version named by its id (UUID string) or its number (integer >= 1, or a string of digits)."""

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            if data >= 1:
                return data
        elif isinstance(data, str):
            text = data.strip()
            if text.isdigit() and 1 <= int(text) < 2**31:
                return int(text)
            try:
                return uuid.UUID(text)
            except ValueError:
                pass
        raise serializers.ValidationError(f"A version id or version number, got {data!r}.")


@extend_schema_field({"oneOf": [{"type": "string", "format": "uuid"}, {"type": "integer", "minimum": 1}]})
class _VersionRefSchemaField(VersionRefField):
    pass


class VersionRefSerializer(serializers.Serializer):
    """{id, version}: a model version by id and number."""

    id = serializers.UUIDField()
    version = serializers.IntegerField()


class GateCheckRequestSerializer(serializers.Serializer):
    alias = NameField(max_length=50, validators=[alias_validator])
    version = _VersionRefSchemaField(help_text="The candidate version: its id, or its number.")


class GateCheckItemSerializer(serializers.Serializer):
    """One check of a promotion gate (the same shape in a dry run and in a refused move's 409 `checks`)."""

    name = serializers.ChoiceField(choices=["model_card", "evaluation", "leakage", "baseline", "min_gain"])
    check = serializers.CharField(help_text="The same as `name` (kept for older clients).")
    passed = serializers.BooleanField()
    detail = serializers.CharField()
    required = serializers.ListField(child=serializers.CharField(), required=False, help_text="model_card")
    missing = serializers.ListField(child=serializers.CharField(), required=False, help_text="model_card")
    metric = serializers.CharField(required=False, help_text="evaluation, baseline, min_gain: the gate's metric")
    candidate = serializers.FloatField(
        required=False, allow_null=True, help_text="evaluation, min_gain: the candidate's value on the pinned set"
    )
    incumbent = serializers.FloatField(
        required=False, allow_null=True, help_text="baseline, min_gain: the value of the version holding the alias"
    )
    incumbent_version = serializers.UUIDField(required=False, help_text="baseline: the version holding the alias")
    dataset_version = serializers.UUIDField(required=False, help_text="evaluation: the pinned dataset version")
    split = serializers.CharField(required=False, help_text="evaluation: the pinned split")
    gain = serializers.FloatField(
        required=False, help_text="min_gain: candidate over incumbent, in the better direction"
    )
    threshold = serializers.FloatField(required=False, help_text="min_gain: the gain the gate requires")
    direction = serializers.ChoiceField(choices=Direction.choices, required=False, help_text="min_gain")
    overlap = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="leakage: distinct rows of the pinned set found in the candidate's training data (null: unknown)",
    )
    max_overlap = serializers.IntegerField(required=False, help_text="leakage: the overlap the gate allows")
    pinned_rows = serializers.IntegerField(
        required=False, allow_null=True, help_text="leakage: distinct rows of the pinned set"
    )


class GateCheckResponseSerializer(serializers.Serializer):
    alias = serializers.CharField()
    version = VersionRefSerializer()
    current = VersionRefSerializer(allow_null=True, help_text="The version holding the alias now, if any.")
    gated = serializers.BooleanField(help_text="Whether the model's gate protects this alias.")
    passed = serializers.BooleanField(help_text="Whether the move would pass (always true when not gated).")
    checks = GateCheckItemSerializer(many=True)
    pinned_dataset_version = serializers.UUIDField(allow_null=True)


class ServingStatsQuerySerializer(serializers.Serializer):
    version = _VersionRefSchemaField(required=False, help_text="Only this version (id or number).")
    bucket = serializers.IntegerField(
        required=False, min_value=60, max_value=31 * 86400, help_text="Bucket width in seconds (at least 60)."
    )
    since = serializers.DateTimeField(required=False, help_text="Start (ISO 8601); default: 24 h before `until`.")
    until = serializers.DateTimeField(required=False, help_text="End, exclusive (ISO 8601); default: now.")


class ServingBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    requests = serializers.IntegerField()
    ok = serializers.IntegerField(help_text="2xx")
    refused = serializers.IntegerField(help_text="4xx")
    failed = serializers.IntegerField(help_text="5xx")
    latency_p50_ms = serializers.FloatField(allow_null=True, help_text="Over the served (2xx) requests.")
    latency_p95_ms = serializers.FloatField(allow_null=True)
    feedback = serializers.IntegerField(help_text="Predictions made in the bucket that have feedback.")
    correct = serializers.IntegerField(allow_null=True, help_text="Null for a regression model.")
    accuracy = serializers.FloatField(allow_null=True, help_text="correct / feedback; null without feedback.")


class ServingStatsSerializer(serializers.Serializer):
    bucket_s = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    versions = VersionRefSerializer(many=True)
    buckets = ServingBucketSerializer(many=True)


class TimelineRefSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["dataset_version", "job", "model_version", "audit_event", "trigger_run"])
    id = serializers.CharField()


class TimelineNodeSerializer(serializers.Serializer):
    id = serializers.CharField(help_text='"<type>:<id>", unique in the graph.')
    type = serializers.ChoiceField(
        choices=["dataset_version", "job", "model_version", "alias_move", "predictions", "feedback", "trigger_run"]
    )
    label = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    ref = TimelineRefSerializer(allow_null=True, help_text="The object the node stands for; null for aggregates.")
    data = serializers.DictField(help_text="Facts of the node; its keys depend on `type` (see the view).")


class TimelineEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    label = serializers.CharField()


class TimelineSerializer(serializers.Serializer):
    nodes = TimelineNodeSerializer(many=True)
    edges = TimelineEdgeSerializer(many=True)
