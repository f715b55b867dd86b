from django.db import migrations, models

INDEX = models.Index(
    condition=models.Q(("status", "received")),
    fields=["received_at"],
    name="inbound_received_age_idx",
)


def create_index(apps, schema_editor):
    model = apps.get_model("webhooks", "InboundEvent")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("webhooks", "InboundEvent")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    """The readiness check's index: the oldest event still ``received``.

    ``/health/ready`` asks on every probe when the event waiting longest
    arrived. Through ``inbound_pending_idx`` that reads every received row
    (32 ms at a backlog of 100,000, more as it grows, just when the database
    is busiest); this partial index on ``received_at`` answers from its first
    entry, and holds only the events waiting for a worker. Built
    CONCURRENTLY on PostgreSQL (so outside a transaction): a plain CREATE
    INDEX would block webhook inserts while it reads the whole inbox.
    """

    atomic = False

    dependencies = [
        ("webhooks", "0004_raw_body_lz4"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="inboundevent", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
