"""factory_boy factories: one per model of every app, each making a valid row with the fewest queries.

They write rows directly (no service, no audit), for tests that need data in a given state; tests of the services
themselves call the services. A version factory makes a real blob (its bytes are in storage), so reads work.
`tests/test_factories.py` builds every one of them.
"""

import hashlib
import struct
import time
import uuid
from datetime import timedelta

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts_app.models import ApiToken, AuditEvent, Invitation, Membership, Team, User
from datasets_app.models import Blob, Dataset, DatasetLineage, DatasetVersion
from jobs_app.models import (
    CHUNK_STEPS,
    Experiment,
    Job,
    JobArtifact,
    JobLog,
    JobOutput,
    LoggedModel,
    MetricBatch,
    MetricChunk,
    OutputKind,
    ResourcePool,
    RetrainTrigger,
    TeamMonthUsage,
    TeamQuota,
    TriggerRun,
)
from models_app.models import (
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionFile,
    PredictionLog,
    RegisteredModel,
    RowHashes,
    ServingRequest,
)

IRIS_SCHEMA = {
    "columns": [
        {"name": "sepal_length", "dtype": "float"},
        {"name": "petal_length", "dtype": "float"},
        {"name": "species", "dtype": "string"},
    ],
    "target": "species",
}

# accounts_app


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = "member"


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token row; the raw token it stands for is `obj.raw` (only its hash is stored, as the service does)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    name = "test"
    raw = factory.Sequence(lambda n: f"eco_factory-token-{n:08d}")
    prefix = factory.LazyAttribute(lambda t: t.raw[:12])
    key_hash = factory.LazyAttribute(lambda t: hashlib.sha256(t.raw.encode()).hexdigest())
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        raw = kwargs.pop("raw", None)
        token = super()._create(model_class, *args, **kwargs)
        token.raw = raw
        return token


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    action = "dataset.create"
    target_type = "dataset"
    target_id = factory.Faker("uuid4")
    data = factory.Dict({})


# datasets_app


class BlobFactory(factory.django.DjangoModelFactory):
    """A blob whose `content` (bytes, not a field) is written to storage under its SHA-256, as blobs.stored does."""

    class Meta:
        model = Blob
        django_get_or_create = ("sha256",)

    content = factory.Sequence(lambda n: f"a,b\n{n},{n % 2}\n".encode())
    sha256 = factory.LazyAttribute(lambda b: hashlib.sha256(b.content).hexdigest())
    size_bytes = factory.LazyAttribute(lambda b: len(b.content))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from datasets_app.blobs import blob_path

        content = kwargs.pop("content", None)
        blob = super()._create(model_class, *args, **kwargs)
        name = blob_path(blob.sha256)
        if content is not None and not default_storage.exists(name):
            default_storage.save(name, ContentFile(content))
        return blob


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    task = "classification"
    created_by = factory.SubFactory(UserFactory)


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    """A version numbered after the dataset's last one, on a small CSV blob (the schema says what it holds)."""

    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    version = factory.LazyAttribute(lambda v: v.dataset.versions.count() + 1)
    blob = factory.SubFactory(BlobFactory)
    format = "csv"
    filename = "data.csv"
    target = "species"
    schema = factory.LazyFunction(lambda: dict(IRIS_SCHEMA))
    num_rows = 1
    source = "upload"
    created_by = factory.SubFactory(UserFactory)


class DatasetLineageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetLineage

    parent = factory.SubFactory(DatasetVersionFactory)
    child = factory.SubFactory(DatasetVersionFactory, dataset=factory.SelfAttribute("..parent.dataset"))


# models_app


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    task = "classification"
    created_by = factory.SubFactory(UserFactory)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.LazyAttribute(lambda v: v.model.versions.count() + 1)
    blob = factory.SubFactory(BlobFactory)
    spec = factory.LazyFunction(lambda: {"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3})
    metrics = factory.Dict({"accuracy": 0.9})
    created_by = factory.SubFactory(UserFactory)


class ModelVersionFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersionFile

    model_version = factory.SubFactory(ModelVersionFactory, format="hf")
    name = factory.Sequence(lambda n: f"file-{n}.json")
    blob = factory.SubFactory(BlobFactory)


class ModelVersionDatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersionDataset

    model_version = factory.SubFactory(ModelVersionFactory)
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset__team=factory.SelfAttribute("...model_version.model.team")
    )


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias

    version = factory.SubFactory(ModelVersionFactory)
    model = factory.SelfAttribute("version.model")
    alias = "production"
    updated_by = factory.SubFactory(UserFactory)


class EvaluationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evaluation

    model_version = factory.SubFactory(ModelVersionFactory)
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset__team=factory.SelfAttribute("...model_version.model.team")
    )
    split = "test"
    metric = "accuracy"
    score = 0.9
    metrics = factory.LazyAttribute(lambda e: {e.metric: e.score})
    num_rows = 30
    created_by = factory.SubFactory(UserFactory)


class GatePolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GatePolicy

    model = factory.SubFactory(RegisteredModelFactory)
    dataset_version = factory.SubFactory(DatasetVersionFactory, dataset__team=factory.SelfAttribute("...model.team"))
    aliases = factory.List(["production"])
    updated_by = factory.SubFactory(UserFactory)


class PredictionLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionLog

    model_version = factory.SubFactory(ModelVersionFactory)
    model = factory.SelfAttribute("model_version.model")
    team = factory.SelfAttribute("model.team")
    runtime = "torch"
    input = factory.Dict({"sepal_length": 5.1, "petal_length": 1.4})
    output = factory.Dict({"label": "setosa", "scores": {"setosa": 0.9}})
    latency_ms = 1.5
    created_by = factory.SubFactory(UserFactory)


class ServingRequestFactory(factory.django.DjangoModelFactory):
    """A served predict request (200) of one row; set `status_code` and `error` for a refused or failed one."""

    class Meta:
        model = ServingRequest

    model_version = factory.SubFactory(ModelVersionFactory)
    model = factory.SelfAttribute("model_version.model")
    alias = "production"
    status_code = 200
    latency_ms = 2.5
    rows = 1


# jobs_app


class JobFactory(factory.django.DjangoModelFactory):
    """A queued job of `kind` (train by default) with the given spec; set `status` etc. for other states."""

    class Meta:
        model = Job

    team = factory.SubFactory(TeamFactory)
    kind = "train"
    spec = factory.Dict({"hyperparameters": {"epochs": 1}})
    created_by = factory.SubFactory(UserFactory)


class ExperimentFactory(factory.django.DjangoModelFactory):
    """A team's experiment (a group of tracking runs)."""

    class Meta:
        model = Experiment

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"experiment-{n}")
    created_by = factory.SubFactory(UserFactory)


class JobLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobLog

    job = factory.SubFactory(JobFactory)
    line = factory.Sequence(lambda n: f"line {n}")


class JobOutputFactory(factory.django.DjangoModelFactory):
    """Provenance: the model version a train job made (set `kind` and `object_id` for others)."""

    class Meta:
        model = JobOutput

    job = factory.SubFactory(JobFactory)
    kind = OutputKind.MODEL_VERSION
    object_id = factory.LazyFunction(uuid.uuid4)


class MetricChunkFactory(factory.django.DjangoModelFactory):
    """One series' chunk holding one point, at its block's first step. To store real series (every column
    packed and the extremes right), use jobs_app.metrics.ingest."""

    class Meta:
        model = MetricChunk

    job = factory.SubFactory(JobFactory)
    key = "loss"
    block = factory.Sequence(lambda n: n)
    count = 1
    first_step = factory.LazyAttribute(lambda c: c.block * CHUNK_STEPS)
    last_step = factory.SelfAttribute("first_step")
    last_value = 0.5
    min_step = factory.SelfAttribute("first_step")
    min_value = 0.5
    max_step = factory.SelfAttribute("first_step")
    max_value = 0.5
    step_bytes = factory.LazyAttribute(lambda c: struct.pack(">q", c.first_step))
    value_bytes = factory.LazyAttribute(lambda c: struct.pack(">d", c.last_value))
    time_bytes = factory.LazyFunction(lambda: struct.pack(">q", round(time.time() * 1_000_000)))


class MetricBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricBatch

    job = factory.SubFactory(JobFactory)
    batch_id = factory.Sequence(lambda n: f"batch-{n}")


class JobArtifactFactory(factory.django.DjangoModelFactory):
    """A file a tracking run logged."""

    class Meta:
        model = JobArtifact

    job = factory.SubFactory(JobFactory, kind="tracking")
    path = factory.Sequence(lambda n: f"notes/{n}.txt")
    blob = factory.SubFactory(BlobFactory)
    size_bytes = factory.LazyAttribute(lambda a: a.blob.size_bytes)


class LoggedModelFactory(factory.django.DjangoModelFactory):
    """A model a tracking run logged through MLflow's client (pending until its files are up)."""

    class Meta:
        model = LoggedModel

    job = factory.SubFactory(JobFactory, kind="tracking")
    name = factory.Sequence(lambda n: f"model-{n}")
    created_by = factory.LazyAttribute(lambda m: m.job.created_by)


class RetrainTriggerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RetrainTrigger

    model = factory.SubFactory(RegisteredModelFactory)
    team = factory.SelfAttribute("model.team")
    base_dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset__team=factory.SelfAttribute("...model.team")
    )
    name = factory.Sequence(lambda n: f"retrain-{n}")
    min_feedback = 10
    train = factory.Dict({"hyperparameters": {"epochs": 1}})
    promote_if = factory.Dict({"alias": "production"})
    created_by = factory.SubFactory(UserFactory)


class TriggerRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TriggerRun

    trigger = factory.SubFactory(RetrainTriggerFactory)
    feedback_until = factory.LazyFunction(timezone.now)
    feedback_count = 10


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    team = factory.SubFactory(TeamFactory)
    username = factory.Sequence(lambda n: f"invitee-{n}")
    role = "member"
    invited_by = factory.SubFactory(UserFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))


class ResourcePoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourcePool

    name = factory.Sequence(lambda n: f"pool-{n}")
    queue = factory.SelfAttribute("name")
    accelerator = "gpu"
    capacity = 8


class TeamQuotaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamQuota

    team = factory.SubFactory(TeamFactory)
    pool = factory.SubFactory(ResourcePoolFactory)
    weight = 1.0
    max_concurrent_jobs = 2
    max_gpus = 2


class TeamMonthUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMonthUsage

    team = factory.SubFactory(TeamFactory)
    pool = factory.Sequence(lambda n: f"pool-{n}")
    month = factory.LazyFunction(lambda: timezone.now().date().replace(day=1))
    gpu_seconds = 3600.0
    cpu_seconds = 7200.0


class RowHashesFactory(factory.django.DjangoModelFactory):
    """Two rows' hashes of a version's file (what models_app.leakage caches)."""

    class Meta:
        model = RowHashes

    dataset_version = factory.SubFactory(DatasetVersionFactory)
    columns_key = factory.Sequence(lambda n: hashlib.sha256(f"columns-{n}".encode()).hexdigest())
    columns = factory.List(["a"])
    algorithm = 1
    num_rows = 2
    distinct_rows = 2
    hashes = factory.LazyFunction(lambda: (1).to_bytes(8, "little") + (2).to_bytes(8, "little"))
