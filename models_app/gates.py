"""Promotion gates: the checks a version must pass before it may hold an alias its model's gate protects.

A check that fails is {"check": <name>, "detail": <what is wrong and what to do>}; `failed_checks` returns
none for an alias the gate does not protect, or a model without a gate.
"""

from __future__ import annotations

import re

from models_app.models import Direction, Evaluation, GatePolicy, ModelAlias, ModelVersion, RegisteredModel

CLASSIFICATION_METRICS = {
    "accuracy": Direction.MAXIMIZE,
    "precision_macro": Direction.MAXIMIZE,
    "recall_macro": Direction.MAXIMIZE,
    "f1_macro": Direction.MAXIMIZE,
    "log_loss": Direction.MINIMIZE,
}
REGRESSION_METRICS = {"r2": Direction.MAXIMIZE, "mae": Direction.MINIMIZE, "rmse": Direction.MINIMIZE}
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$")


def metrics_for_task(task: str) -> dict[str, str]:
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def card_sections(card: str) -> dict[str, str]:
    """Markdown headings of a model card (lower-cased) and the text under each."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in (card or "").splitlines():
        match = _HEADING.match(line)
        if match:
            current = " ".join(match.group(1).split()).lower()
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def score(version: ModelVersion, gate: GatePolicy) -> float | None:
    """The version's gate metric from its latest evaluation on the pinned dataset version and split."""
    evaluation = (
        Evaluation.objects.filter(model_version=version, dataset_version_id=gate.dataset_version_id, split=gate.split)
        .order_by("-created_at")
        .values_list("metrics", flat=True)
        .first()
    )
    value = (evaluation or {}).get(gate.metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def protects(*, model: RegisteredModel, alias: str) -> bool:
    """Whether the model's gate guards this alias."""
    aliases = GatePolicy.objects.filter(model=model).values_list("aliases", flat=True).first()
    return alias in (aliases or [])


def failed_checks(*, model: RegisteredModel, version: ModelVersion, alias: str) -> list[dict]:
    gate = GatePolicy.objects.filter(model=model).select_related("dataset_version__dataset").first()
    if gate is None or alias not in gate.aliases:
        return []
    failed = []
    sections = card_sections(model.card)
    missing = [name for name in gate.required_card_fields if not sections.get(" ".join(name.split()).lower())]
    if missing:
        failed.append(
            {
                "check": "model_card",
                "detail": f"the model card lacks the section(s) {', '.join(missing)} "
                "(a Markdown heading with text under it); edit the model's card",
            }
        )
    pinned = f"{gate.dataset_version.dataset.name} v{gate.dataset_version.version} ({gate.split})"
    candidate = score(version, gate)
    if candidate is None:
        failed.append(
            {
                "check": "evaluation",
                "detail": f"v{version.version} has no {gate.metric} on the pinned set {pinned}; "
                "run an evaluate job on it first",
            }
        )
    holder = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    if holder is not None and holder.version_id != version.pk:
        held = score(holder.version, gate)
        if held is None:
            failed.append(
                {
                    "check": "baseline",
                    "detail": f"the version holding '{alias}' (v{holder.version.version}) has no {gate.metric} on "
                    f"{pinned} to compare with; evaluate it too",
                }
            )
        elif candidate is not None:
            gain = candidate - held if gate.direction == Direction.MAXIMIZE else held - candidate
            if gain < gate.min_gain - 1e-12:
                failed.append(
                    {
                        "check": "min_gain",
                        "detail": f"{gate.metric} of v{version.version} is {candidate:.4f} against "
                        f"{held:.4f} for v{holder.version.version} on {pinned}: a gain of {gain:+.4f}, "
                        f"below the required {gate.min_gain:+.4f}",
                    }
                )
    return failed
