"""Each version's schema records its data set's task, which the one typing rule (ml/formats/rules.py) needs:
the target of a classification data set is read as text exactly as written. Versions from before keep their
recorded column types and the missing tokens they were inspected with; their files are read under the rule
from now on."""

from django.db import migrations


def record_task(apps, schema_editor):
    DatasetVersion = apps.get_model("datasets_app", "DatasetVersion")
    for version in DatasetVersion.objects.select_related("dataset").iterator():
        schema = dict(version.schema or {})
        if schema.get("task") == version.dataset.task:
            continue
        schema["task"] = version.dataset.task
        # the tokens these versions were inspected with (`nan` has since left the default list)
        schema.setdefault("na_values", ["NA", "N/A", "NULL", "null", "NaN", "nan"])
        target = schema.get("target")
        if version.dataset.task != "regression":  # every classification task: its target is text
            for column in schema.get("columns", []):
                if column.get("name") == target:
                    column["dtype"] = "string"
        DatasetVersion.objects.filter(pk=version.pk).update(schema=schema)


class Migration(migrations.Migration):
    dependencies = [("datasets_app", "0004_remove_datasetversion_job")]
    operations = [migrations.RunPython(record_task, migrations.RunPython.noop)]
