from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts_app.models import Role
from accounts_app.selectors import team_for_write
from config.errors import Conflict
from config.parsers import FormParser, JSONParser, MultiPartParser
from datasets_app import blobs, selectors, services
from datasets_app.filters import DatasetFilter
from datasets_app.models import Dataset, DatasetVersion
from datasets_app.serializers import (
    DatasetSerializer,
    DatasetUpdateSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
    LineageNodeSerializer,
    LineageSerializer,
    PreviewSerializer,
    VersionStatsSerializer,
)
from datasets_app.uploads import read_upload
from ml.formats import safecsv

PREVIEW_DEFAULT, PREVIEW_MAX = 20, 1000


class DatasetListCreateApi(generics.ListCreateAPIView):
    """Datasets of your teams. Filter with ?team=&task=&sensitivity=&search=."""

    serializer_class = DatasetSerializer
    filterset_class = DatasetFilter
    required_roles = {"POST": Role.MEMBER}
    team_from = "body"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Dataset.objects.none()
        return selectors.datasets_for_user(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = DatasetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = team_for_write(user=request.user, slug=values.pop("team")["slug"])
        dataset = services.create_dataset(actor=request.user, team=team, **values)
        dataset = selectors.dataset_for_user(user=request.user, pk=dataset.pk)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """One dataset. Editing needs the member role, deleting the maintainer role.

    DELETE is a soft delete (204): the dataset and its versions answer 404 at once and are purged, blobs
    included when nothing else uses them, after ECO_RETENTION_DAYS (default 30); until then a staff user can
    restore it in the Django admin (action "Restore"). 409 while a model, evaluation, gate or another data
    set's version still uses one of its versions."""

    serializer_class = DatasetSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    required_roles = {"PATCH": Role.MEMBER, "DELETE": Role.MAINTAINER}

    def get_object(self):
        dataset = selectors.dataset_for_user(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, dataset)
        return dataset

    @extend_schema(request=DatasetUpdateSerializer, responses=DatasetSerializer)
    def patch(self, request, *args, **kwargs):
        dataset = self.get_object()
        data = DatasetUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_dataset(actor=request.user, dataset=dataset, **data.validated_data)
        return Response(DatasetSerializer(self.get_object()).data)

    def perform_destroy(self, instance):
        services.delete_dataset(actor=self.request.user, dataset=instance)


class DatasetVersionListCreateApi(generics.ListCreateAPIView):
    """Versions of a dataset, newest first. POST a multipart `file` + `target`, or JSON {"builtin": "iris"}."""

    serializer_class = DatasetVersionSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]  # multipart first: uploads
    required_roles = {"POST": Role.MEMBER}  # in the dataset's team

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return DatasetVersion.objects.none()
        dataset = selectors.dataset_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.versions_for_user(user=self.request.user).filter(dataset=dataset).order_by("-version")

    @extend_schema(request=DatasetVersionCreateSerializer, responses={201: DatasetVersionSerializer})
    def post(self, request, *args, **kwargs):
        dataset = selectors.dataset_for_user(user=request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(request, dataset)
        data = DatasetVersionCreateSerializer(data=read_upload(request))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "builtin" in values:
            version = services.create_version_from_builtin(
                actor=request.user, dataset=dataset, name=values["builtin"], description=values["description"]
            )
        else:
            version = services.create_version_from_upload(
                actor=request.user,
                dataset=dataset,
                file=values["file"],
                target=values["target"],
                fmt=values.get("format"),
                na_values=values.get("na_values"),
                delimiter=values.get("delimiter"),
                description=values["description"],
            )
        version = selectors.version_for_user(user=request.user, pk=version.pk)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class DatasetVersionDetailApi(generics.RetrieveAPIView):
    serializer_class = DatasetVersionSerializer

    def get_object(self):
        return selectors.version_for_user(user=self.request.user, pk=self.kwargs["pk"])


class PreviewQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=PREVIEW_MAX, default=PREVIEW_DEFAULT)
    offset = serializers.IntegerField(min_value=0, max_value=2**62, default=0)


class DatasetVersionPreviewApi(APIView):
    """A window of a version's rows, read as training reads them: {columns, rows, offset, limit}. A restricted
    data set's rows need the maintainer role (403 naming the sensitivity for viewers and members)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description=f"1 to {PREVIEW_MAX}"),
            OpenApiParameter("offset", int, description="Rows to skip (default 0)."),
        ],
        responses=PreviewSerializer,
    )
    def get(self, request, pk):
        version = selectors.readable_version_for_user(user=request.user, pk=pk)
        query = PreviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = selectors.preview(version=version, **query.validated_data)
        return Response({"id": str(version.pk), "num_rows": version.num_rows, **body})


class DatasetVersionDownloadApi(APIView):
    """The version's file exactly as stored, streamed: byte for byte the upload, its sha256 the version's (sent
    as the ETag). Formulas in text cells come back as they were uploaded: to open the data in a spreadsheet,
    use `.../export/` (the safe CSV), which the dashboard links. A restricted data set's file needs the
    maintainer role (403 naming the sensitivity for viewers and members). Every download is audited as
    `dataset_version.download` (`format: "original"`), whatever the data set's sensitivity."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk):
        version = selectors.readable_version_for_user(user=request.user, pk=pk)
        if request.method == "GET":  # a HEAD transfers nothing
            services.record_download(actor=request.user, version=version, export="original")
        return blobs.download_response(version.blob, f"{version.dataset.name}-v{version.version}.{version.format}")


class DatasetVersionExportApi(APIView):
    """The version as CSV that is safe to open in a spreadsheet (`text/csv`, an attachment named
    `<dataset>-v<N>.safe.csv`), for a CSV, JSONL, Parquet or NPZ version: read through the version's format
    reader under the typing rule, so the columns' types are the schema's. A TEXT cell (and a column name) that
    starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets an apostrophe in front, which spreadsheets
    show as text instead of running it as a formula; a text cell is text whatever it looks like (`-1` in a text
    column or a classification label is prefixed). Numbers (`-3.5` in a number column) and booleans are written
    as they are; missing values (the rule's: empty cells, NA tokens) as empty cells. Streamed batch by batch in
    constant memory; no Content-Length. Not the stored bytes: `.../download/` gives those (and the sha256).

    An NPZ version holding arrays of samples (images) has no CSV form: 409, download the original instead. A
    restricted data set needs the maintainer role (403). Audited like a download (`format: "safe-csv"`)."""

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request, pk):
        version = selectors.readable_version_for_user(user=request.user, pk=pk)
        if images := safecsv.sample_columns(version.schema):
            raise Conflict(
                f"v{version.version} holds arrays of samples ({', '.join(images[:5])}: images), which have no CSV "
                "form; download the original file instead."
            )
        if request.method == "GET":
            services.record_download(actor=request.user, version=version, export="safe-csv")
        response = StreamingHttpResponse(selectors.safe_csv(version=version), content_type="text/csv; charset=utf-8")
        filename = f"{version.dataset.name}-v{version.version}.safe.csv"
        response["Content-Disposition"] = content_disposition_header(True, filename)
        response["X-Content-Type-Options"] = "nosniff"
        return response


class DatasetVersionLineageApi(APIView):
    """Where a version came from (ancestors, by generation), what was derived from it, and models trained on it."""

    @extend_schema(responses=LineageSerializer)
    def get(self, request, pk):
        version = selectors.version_for_user(user=request.user, pk=pk)
        graph = selectors.lineage(user=request.user, version=version)
        node = LineageNodeSerializer
        return Response(
            {
                "version": node(version).data,
                "parents": [node(v).data for depth, v in graph["ancestors"] if depth == 1],
                "ancestors": [{**node(v).data, "depth": depth} for depth, v in graph["ancestors"]],
                "children": [node(v).data for v in graph["children"]],
                "models": graph["models"],
            }
        )


class DatasetVersionStatsApi(APIView):
    """Per-column statistics of a version (any team role; a restricted data set's need the maintainer role, 403
    naming the sensitivity for viewers and members): {num_rows, columns: [...]}, in the schema's column
    order. Computed from the file the first time they are asked for (this answer may take a while for a big
    file), then stored: every later answer is the stored copy."""

    @extend_schema(responses=VersionStatsSerializer)
    def get(self, request, pk):
        version = selectors.readable_version_for_user(user=request.user, pk=pk)
        # the stored dict as it is: int64 columns keep integer min / max, which the serializer would make floats
        return Response(services.version_stats(version=version))
