from django.db import migrations, models

INDEX = models.Index(
    condition=models.Q(("body_pruned_at", None), ("processed_at__isnull", False)),
    fields=["endpoint", "processed_at"],
    name="inbound_body_retention_idx",
)


def create_index(apps, schema_editor):
    model = apps.get_model("webhooks", "InboundEvent")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.add_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


def drop_index(apps, schema_editor):
    model = apps.get_model("webhooks", "InboundEvent")
    concurrently = schema_editor.connection.vendor == "postgresql"
    schema_editor.remove_index(model, INDEX, **({"concurrently": True} if concurrently else {}))


class Migration(migrations.Migration):
    """Retention: pruned bodies (``body_pruned_at`` and the index of the
    pruning, built CONCURRENTLY on PostgreSQL, as 0005 says why), the
    ``expired`` status, and an endpoint's own body retention."""

    atomic = False

    dependencies = [
        ("webhooks", "0005_inbound_received_age_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundevent",
            name="body_pruned_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="inbound_body_retention_days",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Days to keep the raw bodies and headers of this endpoint's events after processing. Empty: RETENTION_INBOUND_BODIES_DAYS.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="inboundevent",
            name="status",
            field=models.CharField(
                choices=[
                    ("received", "Received"),
                    ("processed", "Processed"),
                    ("failed", "Failed (will retry)"),
                    ("dead", "Dead (retries exhausted)"),
                    ("skipped", "Skipped (unknown type)"),
                    ("rejected", "Rejected (malformed)"),
                    ("erased", "Erased (customer data removed)"),
                    ("expired", "Expired (older than the retention period)"),
                ],
                default="received",
                max_length=10,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="inboundevent", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
        migrations.AddConstraint(
            model_name="webhookendpoint",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("inbound_body_retention_days__isnull", True),
                    ("inbound_body_retention_days__gte", 1),
                    _connector="OR",
                ),
                name="endpoint_body_retention_positive",
            ),
        ),
    ]
