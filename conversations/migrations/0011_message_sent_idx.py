from django.db import migrations, models

INDEX = models.Index(fields=["sent_at", "id"], name="message_sent_idx")


def create_index(apps, schema_editor):
    model = apps.get_model("conversations", "Message")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.add_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


def drop_index(apps, schema_editor):
    model = apps.get_model("conversations", "Message")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.remove_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


class Migration(migrations.Migration):
    """Messages in time order for the REST API, from one index.

    ``GET /api/v1/messages/?sent_after=…&ordering=sent_at`` reads
    ``WHERE sent_at >= ? ORDER BY sent_at, id LIMIT ?``, and each next cursor
    page ``WHERE sent_at >= ?`` from where the last one ended: a range of
    ``message_sent_idx`` however deep. (In storage order, ``ORDER BY id``, a
    sent range late in the archive is a walk of the primary key past every
    message sent before it: seconds on ten million messages.)

    Built CONCURRENTLY on PostgreSQL (so outside a transaction), as 0010: the
    message table is the largest, and its writes must not wait for the build.
    """

    atomic = False

    dependencies = [
        ("conversations", "0010_retention"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="message", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
