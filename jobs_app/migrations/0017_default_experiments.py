"""Every existing team gets its default experiment now (new teams get it when made: jobs_app.apps), so that
reading a team's default experiment never writes."""

from django.db import migrations

DEFAULT_EXPERIMENT = "Default"


def create_defaults(apps, schema_editor):
    Team = apps.get_model("accounts_app", "Team")
    Experiment = apps.get_model("jobs_app", "Experiment")
    have = set(Experiment.objects.filter(name=DEFAULT_EXPERIMENT).values_list("team_id", flat=True))
    Experiment.objects.bulk_create(
        [
            Experiment(team_id=pk, name=DEFAULT_EXPERIMENT)
            for pk in Team.objects.values_list("pk", flat=True)
            if pk not in have
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts_app", "0003_token_scope_invitations"),
        ("jobs_app", "0016_mlflow_models"),
    ]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
