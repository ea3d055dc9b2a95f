"""MLflow's artifact proxy (`mlflow-artifacts:` URIs) on Eco's run artifacts.

A run's artifact URI is `mlflow-artifacts:/<experiment id>/<run id>/artifacts`; MLflow's client turns it into
`/api/2.0/mlflow-artifacts/artifacts/<experiment id>/<run id>/artifacts/<path>` and PUTs each file's bytes
there, GETs it back, and lists a folder with `GET /api/2.0/mlflow-artifacts/artifacts?path=<folder>`. Files
are Eco's JobArtifact rows, stored once as content-addressed blobs (jobs_app.services.tracking.log_artifact:
only the run's creator writes, within the team's storage quota), and read by every role of the team.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from rest_framework.response import Response

from accounts_app.models import Role
from accounts_app.permissions import require_role
from config.jsonsafe import unsafe_text
from datasets_app import blobs
from datasets_app.uploads import raw_body
from jobs_app import selectors
from jobs_app.models import Job
from jobs_app.services import tracking
from mlflow_app.api import MlflowApi, experiment_id_of, run_for
from mlflow_app.protocol import MlflowError, not_found


def locate(user, path: str) -> tuple[Job, str]:
    """(the run, the artifact path inside it) of a proxy path `<experiment id>/<run id>/artifacts[/<path>]`.
    Raises RESOURCE_DOES_NOT_EXIST for a path outside a run of the caller's teams."""
    if problem := unsafe_text(path, "path"):
        raise MlflowError("INVALID_PARAMETER_VALUE", problem)
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise not_found(f"No artifact at {path!r}: Eco keeps a run's artifacts under <experiment>/<run>/artifacts/.")
    job = run_for(user, parts[1])
    if experiment_id_of(job) != parts[0]:
        raise not_found(f"No artifact at {path!r}: run {parts[1]} is not in experiment {parts[0]}.")
    return job, "/".join(parts[3:])


class ArtifactApi(MlflowApi):
    """PUT uploads one file (the body is its bytes), GET downloads it; errors in MLflow's format."""

    http_method_names = ["get", "put"]
    parser_classes = []  # the body is a file's bytes, read as a stream by raw_body

    def put(self, request, path: str):
        job, inner = locate(request.user, path)
        require_role(user=request.user, team=job.team, minimum=Role.MEMBER)
        if not inner:
            raise MlflowError("INVALID_PARAMETER_VALUE", "An artifact upload names a file under artifacts/.")
        with raw_body(request, name=PurePosixPath(inner).name) as (content, sha256, size):
            tracking.log_artifact(actor=request.user, job=job, path=inner, content=content, sha256=sha256, size=size)
        return Response({})

    def get(self, request, path: str):
        job, inner = locate(request.user, path)
        artifact = selectors.artifacts(job=job).filter(path=inner).select_related("blob").first()
        if artifact is None:
            raise not_found(f"The run has no artifact {inner!r}.")
        return blobs.download_response(artifact.blob, PurePosixPath(artifact.path).name)


class ArtifactListApi(MlflowApi):
    """GET ?path=<folder>: the folder's files and sub-folders, names relative to it (`{}` for a file or an empty
    or missing folder, as MLflow's own server answers)."""

    http_method_names = ["get"]

    def get(self, request):
        job, inner = locate(request.user, request.query_params.get("path") or "")
        prefix = f"{inner.rstrip('/')}/" if inner else ""
        entries: dict[str, dict] = {}
        for path, size in (
            selectors.artifacts(job=job).filter(path__startswith=prefix).values_list("path", "size_bytes")
        ):
            rest = path[len(prefix) :]
            head, _, tail = rest.partition("/")
            if tail:
                entries.setdefault(head, {"path": head, "is_dir": True})
            else:
                entries[head] = {"path": head, "is_dir": False, "file_size": size}
        return Response({"files": [entries[k] for k in sorted(entries)]} if entries else {})
