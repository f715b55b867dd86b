from django.db import migrations, models
from django.db.models.functions import Coalesce

INDEX = models.Index(
    models.F("anonymised_at"),
    Coalesce("closed_at", "opened_at"),
    name="conversation_retention_idx",
)


def create_index(apps, schema_editor):
    model = apps.get_model("conversations", "Conversation")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.add_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


def drop_index(apps, schema_editor):
    model = apps.get_model("conversations", "Conversation")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.remove_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


class Migration(migrations.Migration):
    """Retention: ``anonymised_at``, and the index of its batches (see the
    model). Built CONCURRENTLY on PostgreSQL (so outside a transaction): a
    plain CREATE INDEX would block the archive's writes while it reads every
    conversation."""

    atomic = False

    dependencies = [
        ("conversations", "0009_insights_fill"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="anonymised_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="conversation", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
