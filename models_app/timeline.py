"""A model's story as a graph, for the dashboard's timeline:

    dataset version -> (train) job -> model version -> alias moves
                                   \\-> predictions (one node per version) -> feedback (one node per version)
                                        -> trigger run -> snapshot dataset version -> retrain job -> new version

`model_timeline` reads a model the caller may already see (the view fetches it through a selector) in a fixed
number of queries, whatever the number of versions, jobs or moves. jobs_app's tables are read by name (the
apps below jobs_app never import it). Node ids are "<type>:<id>" strings, unique in the graph.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count, Max, Min, Q

from datasets_app.models import DatasetVersion
from models_app.models import ModelVersion, ModelVersionDataset, PredictionLog, RegisteredModel

ALIAS_ACTIONS = ("alias.set", "alias.force", "alias.delete")
MAX_VERSIONS = 500  # the newest; older ones (and what only they lead to) are left out
MAX_MOVES = 500
MAX_RUNS = 200


def _count(n: int, noun: str) -> str:
    """ "1 label", "3 labels"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _node(node_type: str, pk, label: str, at, /, ref: bool | str = True, **data) -> dict:
    ref_type = node_type if ref is True else ref
    return {
        "id": f"{node_type}:{pk}",
        "type": node_type,
        "label": label,
        "at": at,
        "ref": {"type": ref_type, "id": str(pk)} if ref else None,
        "data": data,
    }


def model_timeline(*, model: RegisteredModel) -> dict:
    """{nodes: [{id, type, label, at, ref: {type, id} | null, data}], edges: [{source, target, label}]}.

    Node types and their `data`:
    - dataset_version: {dataset, version, source}; ref dataset_version
    - job: {kind, status}; ref job
    - model_version: {version, status, format, metric, score}; ref model_version. A version of another model
      of the team (the base this model was fine-tuned from, or a version fine-tuned from this model's) also has
      {model, model_name} and is labelled "<model name> v<n>".
    - alias_move: {alias, action (alias.set | alias.force | alias.delete), version (UUID | null), by, reason};
      ref audit_event (the audit trail's entry)
    - predictions: {count, first_at, last_at}, one per model version that served; ref null
    - feedback: {count, first_at, last_at}, one per model version whose predictions got labels; ref null
    - trigger_run: {status, step, feedback_count}; ref trigger_run
    Edges: dataset_version -train-> job -produced-> model_version (dataset_version -trained on-> model_version
    for an uploaded version), parent model_version -derived-> model_version (-base model-> job when a finetune
    job made it), model_version -alias-> alias_move,
    model_version -served-> predictions -labelled-> feedback -triggered-> trigger_run (feedback given before the
    run's cut-off), trigger_run -snapshot-> dataset_version, trigger_run -started-> job. Nodes are sorted by `at`.
    """
    Job = apps.get_model("jobs_app", "Job")
    JobOutput = apps.get_model("jobs_app", "JobOutput")
    TriggerRun = apps.get_model("jobs_app", "TriggerRun")
    AuditEvent = apps.get_model("accounts_app", "AuditEvent")

    nodes: dict[str, dict] = {}
    edges: list[dict] = []
    seen_edges: set[tuple] = set()

    def edge(source: str, target: str, label: str) -> None:
        if source in nodes and target in nodes and (source, target) not in seen_edges:
            seen_edges.add((source, target))
            edges.append({"source": source, "target": target, "label": label})

    versions = list(
        ModelVersion.objects.filter(model=model)
        .order_by("-version")
        .only("id", "model_id", "version", "status", "format", "metrics", "parent_id", "created_at")[:MAX_VERSIONS]
    )
    version_ids = [v.pk for v in versions]
    # Versions of the team's other models on either side of a parent link: the base a version was fine-tuned
    # from, and versions fine-tuned from this model's. Other teams' models are left out (the caller may not see
    # them).
    related = list(
        ModelVersion.objects.filter(model__team_id=model.team_id, model__deleted_at__isnull=True)
        .exclude(model=model)
        .filter(Q(pk__in={v.parent_id for v in versions if v.parent_id}) | Q(parent_id__in=version_ids))
        .select_related("model")
        .only("id", "version", "status", "format", "metrics", "parent_id", "created_at", "model__id", "model__name")
        .order_by("-created_at")[:MAX_VERSIONS]
    )
    links = list(
        ModelVersionDataset.objects.filter(model_version_id__in=version_ids).values_list(
            "model_version_id", "dataset_version_id"
        )
    )
    made_by = dict(
        JobOutput.objects.filter(
            kind="model_version", object_id__in=version_ids + [v.pk for v in related if v.parent_id in version_ids]
        ).values_list("object_id", "job_id")
    )
    runs = list(
        TriggerRun.objects.filter(trigger__model=model)
        .order_by("-created_at")[:MAX_RUNS]
        .values("id", "status", "step", "feedback_count", "feedback_until", "dataset_version_id", "created_at")
    )
    run_ids = [run["id"] for run in runs]
    jobs = list(
        Job.objects.filter(Q(pk__in=set(made_by.values())) | Q(trigger_run_id__in=run_ids)).values(
            "id", "kind", "status", "trigger_run_id", "created_at"
        )
    )
    dataset_ids = {dv for _, dv in links} | {run["dataset_version_id"] for run in runs if run["dataset_version_id"]}
    datasets = list(
        DatasetVersion.objects.filter(pk__in=dataset_ids).values(
            "id", "version", "source", "created_at", "dataset__name"
        )
    )
    moves = list(
        AuditEvent.objects.filter(team_id=model.team_id, action__in=ALIAS_ACTIONS, data__model=str(model.pk))
        .order_by("-created_at")
        .values("id", "action", "data", "created_at", "actor__username")[:MAX_MOVES]
    )
    served = PredictionLog.objects.filter(model=model, model_version_id__in=version_ids)
    usage = (
        served.values("model_version_id")
        .order_by()
        .annotate(
            count=Count("id"),
            first_at=Min("created_at"),
            last_at=Max("created_at"),
            labelled=Count("id", filter=Q(feedback_at__isnull=False)),
            first_label_at=Min("feedback_at"),
            last_label_at=Max("feedback_at"),
        )
    )
    usage = list(usage)

    for dv in datasets:
        label = f"{dv['dataset__name']} v{dv['version']}"
        nodes[f"dataset_version:{dv['id']}"] = _node(
            "dataset_version", dv["id"], label, dv["created_at"], dataset=dv["dataset__name"], version=dv["version"],
            source=dv["source"],
        )  # fmt: skip
    for job in jobs:
        label = f"{job['kind']} job ({job['status']})"
        nodes[f"job:{job['id']}"] = _node(
            "job", job["id"], label, job["created_at"], kind=job["kind"], status=job["status"]
        )
    for v in [*versions, *related]:
        metric = "r2" if "r2" in v.metrics else "accuracy"
        score = v.metrics.get(metric)
        other = {"model": str(v.model_id), "model_name": v.model.name} if v.model_id != model.pk else {}
        label = f"{other['model_name']} v{v.version}" if other else f"v{v.version}"
        nodes[f"model_version:{v.pk}"] = _node(
            "model_version", v.pk, label, v.created_at, version=v.version, status=v.status,
            format=v.format, metric=metric if isinstance(score, (int, float)) else None,
            score=score if isinstance(score, (int, float)) else None, **other,
        )  # fmt: skip
    for move in moves:
        data = move["data"] or {}
        alias, target = data.get("alias", ""), data.get("version")
        if move["action"] == "alias.delete":
            label = f"{alias} removed"
        else:
            number = next((v.version for v in versions if str(v.pk) == target), None)
            label = f"{alias} → v{number}" + (" (forced)" if move["action"] == "alias.force" else "")
        nodes[f"alias_move:{move['id']}"] = _node(
            "alias_move", move["id"], label, move["created_at"], ref="audit_event", alias=alias,
            action=move["action"], version=target, by=move["actor__username"], reason=data.get("reason", ""),
        )  # fmt: skip
        if target:
            edge(
                f"model_version:{target}",
                f"alias_move:{move['id']}",
                "removed" if "delete" in move["action"] else "alias",
            )
    for row in usage:
        vid = row["model_version_id"]
        nodes[f"predictions:{vid}"] = _node(
            "predictions", vid, _count(row["count"], "prediction"), row["first_at"], ref=False, count=row["count"],
            first_at=row["first_at"], last_at=row["last_at"],
        )  # fmt: skip
        edge(f"model_version:{vid}", f"predictions:{vid}", "served")
        if row["labelled"]:
            nodes[f"feedback:{vid}"] = _node(
                "feedback", vid, _count(row["labelled"], "label"), row["first_label_at"], ref=False,
                count=row["labelled"], first_at=row["first_label_at"], last_at=row["last_label_at"],
            )  # fmt: skip
            edge(f"predictions:{vid}", f"feedback:{vid}", "labelled")
    for run in runs:
        label = f"retrain run ({run['status']})"
        nodes[f"trigger_run:{run['id']}"] = _node(
            "trigger_run", run["id"], label, run["created_at"], status=run["status"], step=run["step"],
            feedback_count=run["feedback_count"],
        )  # fmt: skip

    # edges, once every node exists
    for vid, dv in links:
        job = made_by.get(vid)
        if job is not None and f"job:{job}" in nodes:
            edge(f"dataset_version:{dv}", f"job:{job}", "train")
        else:
            edge(f"dataset_version:{dv}", f"model_version:{vid}", "trained on")
    for vid, job in made_by.items():
        edge(f"job:{job}", f"model_version:{vid}", "produced")
    for v in [*versions, *related]:
        if not v.parent_id:
            continue
        job = made_by.get(v.pk)
        if job is not None and f"job:{job}" in nodes and nodes[f"job:{job}"]["data"]["kind"] == "finetune":
            edge(f"model_version:{v.parent_id}", f"job:{job}", "base model")
        else:
            edge(f"model_version:{v.parent_id}", f"model_version:{v.pk}", "derived")
    for run in runs:
        node = f"trigger_run:{run['id']}"
        for row in usage:
            if row["labelled"] and row["first_label_at"] <= run["feedback_until"]:
                edge(f"feedback:{row['model_version_id']}", node, "triggered")
        if run["dataset_version_id"]:
            edge(node, f"dataset_version:{run['dataset_version_id']}", "snapshot")
    for job in jobs:
        if job["trigger_run_id"]:
            edge(f"trigger_run:{job['trigger_run_id']}", f"job:{job['id']}", "started")

    ordered = sorted(nodes.values(), key=lambda n: (n["at"] is None, n["at"] or 0, n["id"]))
    return {"nodes": ordered, "edges": edges}
