from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts_app.models import Role
from accounts_app.selectors import team_for_write
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
    """One dataset. Editing needs the member role, deleting the maintainer role."""

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
    """A window of a version's rows, read as training reads them: {columns, rows, offset, limit}."""

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description=f"1 to {PREVIEW_MAX}"),
            OpenApiParameter("offset", int, description="Rows to skip (default 0)."),
        ],
        responses=PreviewSerializer,
    )
    def get(self, request, pk):
        version = selectors.version_for_user(user=request.user, pk=pk)
        query = PreviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = selectors.preview(version=version, **query.validated_data)
        return Response({"id": str(version.pk), "num_rows": version.num_rows, **body})


class DatasetVersionDownloadApi(APIView):
    """The version's file, streamed."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk):
        version = selectors.version_for_user(user=request.user, pk=pk)
        return blobs.download_response(version.blob, f"{version.dataset.name}-v{version.version}.{version.format}")


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
    """Per-column statistics of a version (any team role): {num_rows, columns: [...]}, in the schema's column
    order. Computed from the file the first time they are asked for (this answer may take a while for a big
    file), then stored: every later answer is the stored copy."""

    @extend_schema(responses=VersionStatsSerializer)
    def get(self, request, pk):
        version = selectors.version_for_user(user=request.user, pk=pk)
        # the stored dict as it is: int64 columns keep integer min / max, which the serializer would make floats
        return Response(services.version_stats(version=version))
