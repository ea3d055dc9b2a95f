"""Promotion gates: the checks a version must pass before it may hold an alias its model's gate protects.

`report` runs every check and says which passed (see its docstring for the shape of a check); `failed_checks`
keeps the failed ones (what a refused move's 409 lists), none for an alias the gate does not protect or a model
without a gate.
"""

from __future__ import annotations

import re

from models_app import leakage
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


def report(*, model: RegisteredModel, version: ModelVersion, alias: str) -> dict:
    """Run the gate's checks for moving `alias` to `version`, writing nothing (but the leakage check's cache of
    row hashes); the one code path behind both the real move (`services.set_alias`) and its dry run
    (POST /models/{id}/gate/check/).

    Returns {"gated": bool, "passed": bool, "checks": [check, ...], "pinned_dataset_version": UUID | None,
    "current": ModelVersion | None (the version holding `alias` now)}. Each check is
    {"name", "check" (the same name, the key older clients read), "passed": bool, "detail": str} plus what it
    measured:
    - `model_card`: `required` and `missing` section names;
    - `evaluation`: `metric`, `candidate` (the version's value on the pinned set, or None), `dataset_version`, `split`;
    - `leakage`: `overlap` (distinct rows of the pinned set found in the version's training data, by content;
      None when the version records no training data), `max_overlap` (the gate's allowance), `pinned_rows`
      (distinct rows of the pinned set); see models_app.leakage;
    - `baseline` (only when another version holds the alias): `incumbent` (its value, or None), `incumbent_version`;
    - `min_gain` (only when both values exist): `candidate`, `incumbent`, `gain` (in the better direction),
      `threshold` (the gate's min_gain) and `direction`.
    An alias the gate does not protect (or a model without a gate) is gated=False, passed=True, checks=[].
    """
    holder = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    current = holder.version if holder is not None else None
    gate = GatePolicy.objects.filter(model=model).select_related("dataset_version__dataset").first()
    if gate is None or alias not in gate.aliases:
        return {"gated": False, "passed": True, "checks": [], "pinned_dataset_version": None, "current": current}
    checks = []

    def add(name: str, passed: bool, detail: str, **measured) -> None:
        checks.append({"name": name, "check": name, "passed": passed, "detail": detail, **measured})

    sections = card_sections(model.card)
    required = list(gate.required_card_fields)
    missing = [name for name in required if not sections.get(" ".join(name.split()).lower())]
    add(
        "model_card",
        not missing,
        f"the model card lacks the section(s) {', '.join(missing)} "
        "(a Markdown heading with text under it); edit the model's card"
        if missing
        else (f"the model card has the section(s) {', '.join(required)}" if required else "no sections required"),
        required=required,
        missing=missing,
    )
    pinned = f"{gate.dataset_version.dataset.name} v{gate.dataset_version.version} ({gate.split})"
    candidate = score(version, gate)
    add(
        "evaluation",
        candidate is not None,
        f"v{version.version} has no {gate.metric} on the pinned set {pinned}; run an evaluate job on it first"
        if candidate is None
        else f"v{version.version} has {gate.metric} {candidate:.4f} on {pinned}",
        metric=gate.metric,
        candidate=candidate,
        dataset_version=str(gate.dataset_version_id),
        split=gate.split,
    )
    leak = leakage.check(gate=gate, version=version)
    add("leakage", leak.pop("passed"), leak.pop("detail"), **leak)
    if holder is not None and holder.version_id != version.pk:
        held = score(holder.version, gate)
        add(
            "baseline",
            held is not None,
            f"the version holding '{alias}' (v{holder.version.version}) has no {gate.metric} on "
            f"{pinned} to compare with; evaluate it too"
            if held is None
            else f"the version holding '{alias}' (v{holder.version.version}) has {gate.metric} {held:.4f} on {pinned}",
            metric=gate.metric,
            incumbent=held,
            incumbent_version=str(holder.version_id),
        )
        if candidate is not None and held is not None:
            gain = candidate - held if gate.direction == Direction.MAXIMIZE else held - candidate
            passed = gain >= gate.min_gain - 1e-12
            add(
                "min_gain",
                passed,
                f"{gate.metric} of v{version.version} is {candidate:.4f} against "
                f"{held:.4f} for v{holder.version.version} on {pinned}: a gain of {gain:+.4f}, "
                + ("at least" if passed else "below")
                + f" the required {gate.min_gain:+.4f}",
                metric=gate.metric,
                candidate=candidate,
                incumbent=held,
                gain=gain,
                threshold=gate.min_gain,
                direction=gate.direction,
            )
    return {
        "gated": True,
        "passed": all(check["passed"] for check in checks),
        "checks": checks,
        "pinned_dataset_version": gate.dataset_version_id,
        "current": current,
    }


def failed_checks(*, model: RegisteredModel, version: ModelVersion, alias: str) -> list[dict]:
    """The checks of `report` that failed (same shape), in order; none for an alias the gate does not protect."""
    return [check for check in report(model=model, version=version, alias=alias)["checks"] if not check["passed"]]
