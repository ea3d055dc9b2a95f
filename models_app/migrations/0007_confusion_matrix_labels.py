"""Confusion matrices stored before they were named: a bare K x K list becomes {"labels", "matrix"}, labelled
by the model version's classes when they fit (its spec's preprocessing), else by the indices as text."""

from django.db import migrations

KEYS = ("confusion_matrix", "val_confusion_matrix")


def _labelled(metrics: dict, classes) -> bool:
    changed = False
    for key in KEYS:
        matrix = metrics.get(key)
        if isinstance(matrix, list):
            size = len(matrix)
            names = [str(c) for c in classes] if isinstance(classes, list) and len(classes) == size else None
            metrics[key] = {"labels": names or [str(i) for i in range(size)], "matrix": matrix}
            changed = True
    return changed


def forwards(apps, schema_editor):
    ModelVersion = apps.get_model("models_app", "ModelVersion")
    Evaluation = apps.get_model("models_app", "Evaluation")
    has_matrix = {"metrics__has_key": "confusion_matrix"}
    for version in ModelVersion.objects.filter(**has_matrix).only("metrics", "spec").iterator(chunk_size=500):
        if _labelled(version.metrics, (version.spec.get("preprocessing") or {}).get("classes")):
            version.save(update_fields=["metrics"])
    evaluations = (
        Evaluation.objects.filter(**has_matrix).select_related("model_version").only("metrics", "model_version__spec")
    )
    for evaluation in evaluations.iterator(chunk_size=500):
        spec = evaluation.model_version.spec or {}
        if _labelled(evaluation.metrics, (spec.get("preprocessing") or {}).get("classes")):
            evaluation.save(update_fields=["metrics"])


class Migration(migrations.Migration):
    dependencies = [("models_app", "0006_serving_requests")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
