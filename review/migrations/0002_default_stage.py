from django.db import migrations


def create_default_stage(apps, schema_editor):
    Stage = apps.get_model("review", "Stage")
    if not Stage.objects.exists():
        Stage.objects.create(
            name="Creative review",
            position=1,
            description="Does the clip follow the brief, and is it good enough to ship?",
        )


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial")]

    operations = [migrations.RunPython(create_default_stage, migrations.RunPython.noop)]
