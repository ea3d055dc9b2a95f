import json

from rest_framework import serializers

from accounts_app.fields import NameField
from accounts_app.models import slug_validator
from datasets_app import bundled
from datasets_app.models import Dataset, DatasetVersion, Sensitivity, Task
from ml import formats


class DatasetSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", validators=[slug_validator])
    name = NameField(max_length=200)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    num_versions = serializers.IntegerField(read_only=True, default=0)
    latest_version = serializers.IntegerField(read_only=True, default=None, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "team",
            "name",
            "description",
            "task",
            "sensitivity",
            "license",
            "created_by",
            "created_at",
            "updated_at",
            "num_versions",
            "latest_version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class DatasetUpdateSerializer(serializers.Serializer):
    name = NameField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    task = serializers.ChoiceField(choices=Task.choices, required=False)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    license = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({f: ["This field cannot be changed."] for f in sorted(unknown)})
        return attrs


class DatasetVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    team = serializers.CharField(source="dataset.team.slug", read_only=True)
    sha256 = serializers.CharField(source="blob_id", read_only=True)
    size_bytes = serializers.IntegerField(source="blob.size_bytes", read_only=True)
    parents = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "dataset_name",
            "team",
            "version",
            "sha256",
            "size_bytes",
            "num_rows",
            "schema",
            "status",
            "source",
            "source_detail",
            "parents",
            "format",
            "filename",
            "target",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_parents(self, obj) -> list[str]:
        return [str(link.parent_id) for link in obj.parent_links.all()]


class DatasetVersionCreateSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="CSV, JSONL, NPZ or Parquet (multipart).")
    target = serializers.CharField(
        required=False, max_length=200, help_text="The label column (CSV, JSONL) or array (NPZ)."
    )
    format = serializers.ChoiceField(
        choices=formats.FORMATS, required=False, help_text="Overrides the format told by the file's extension."
    )
    na_values = serializers.CharField(
        required=False,
        max_length=10_000,
        help_text="A JSON array of the tokens that mean a missing feature value, replacing the default "
        '["NA", "N/A", "NaN", "null", "NULL"]; [] leaves only empty cells missing. Never applies to the '
        "target of a classification data set, where only an empty cell is missing.",
    )
    delimiter = serializers.CharField(
        required=False,
        max_length=2,
        trim_whitespace=False,
        help_text="CSV only: the field delimiter, one character (default ','; \\t for a tab).",
    )
    builtin = serializers.ChoiceField(
        choices=sorted(bundled.BUILTINS),
        required=False,
        help_text="One of scikit-learn's bundled data sets instead of a file.",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if "file" in attrs and "builtin" in attrs:
            raise serializers.ValidationError({"builtin": ["Send either a file or a builtin, not both."]})
        if "file" not in attrs and "builtin" not in attrs:
            raise serializers.ValidationError({"file": ["Send a file (multipart) or a builtin data set name."]})
        if "file" in attrs and not attrs.get("target"):
            raise serializers.ValidationError({"target": ["Name the label column of the file."]})
        na_values = attrs.get("na_values")
        if na_values is not None:
            try:
                attrs["na_values"] = json.loads(na_values)
            except ValueError:
                raise serializers.ValidationError(
                    {"na_values": ['Give a JSON array of strings, e.g. ["-", "?"].']}
                ) from None
        return attrs


class LineageNodeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    dataset = serializers.UUIDField(source="dataset_id")
    dataset_name = serializers.CharField(source="dataset.name")
    version = serializers.IntegerField()
    source = serializers.CharField()
    sha256 = serializers.CharField(source="blob_id")


class LineageModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    model = serializers.UUIDField()
    model_name = serializers.CharField()
    version = serializers.IntegerField()


class AncestorSerializer(LineageNodeSerializer):
    depth = serializers.IntegerField()


class LineageSerializer(serializers.Serializer):
    version = LineageNodeSerializer()
    parents = LineageNodeSerializer(many=True)
    ancestors = AncestorSerializer(many=True)
    children = LineageNodeSerializer(many=True)
    models = LineageModelSerializer(many=True)


class PreviewSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    num_rows = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))


class HistogramSerializer(serializers.Serializer):
    edges = serializers.ListField(
        child=serializers.FloatField(), help_text="BINS + 1 bin edges from min to max ([v, v] for one value)."
    )
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Values per bin; the last bin includes its right edge."
    )


class TopValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="The value as text (cut to 200 characters, ending in '…').")
    count = serializers.IntegerField()


class ColumnStatsSerializer(serializers.Serializer):
    """One column. Numbers (int64, float64): min, max, mean, std (population) and histogram; text, bool and
    empty columns: unique and top; NPZ sample columns (images): count and missing only. Null where a figure
    does not apply, or has no value (a column with no values has no min)."""

    name = serializers.CharField()
    dtype = serializers.CharField()
    count = serializers.IntegerField(help_text="Present (non-missing) values.")
    missing = serializers.IntegerField()
    unique = serializers.IntegerField(
        allow_null=True, help_text="Distinct present values; null beyond 100,000 (too many to count exactly)."
    )
    min = serializers.FloatField(allow_null=True, help_text="An integer for int64 columns.")
    max = serializers.FloatField(allow_null=True, help_text="An integer for int64 columns.")
    mean = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True, help_text="Population standard deviation (ddof 0).")
    histogram = HistogramSerializer(allow_null=True)
    top = TopValueSerializer(
        many=True,
        allow_null=True,
        help_text="Up to 10 most frequent values, most frequent first (ties by value); exact counts.",
    )


class VersionStatsSerializer(serializers.Serializer):
    num_rows = serializers.IntegerField()
    columns = ColumnStatsSerializer(many=True)
