import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The inbox's endpoint FK loses its own index (the per-endpoint unique
    index leads with endpoint_id and serves the same lookups), and the sweep
    index becomes partial over the statuses that need attention."""

    dependencies = [
        ("webhooks", "0002_customer_erasure"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="inboundevent",
            name="inbound_sweep_idx",
        ),
        # Only the index is dropped: AlterField would also drop and re-add the
        # foreign key, re-checking every row of the inbox under a lock.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="inboundevent",
                    name="endpoint",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="webhooks.webhookendpoint",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS webhooks_inboundevent_endpoint_id_b691006a",
                    reverse_sql=(
                        "CREATE INDEX webhooks_inboundevent_endpoint_id_b691006a"
                        " ON webhooks_inboundevent (endpoint_id)"
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="inboundevent",
            index=models.Index(
                condition=models.Q(("status__in", ["received", "failed", "dead", "rejected"])),
                fields=["status", "next_attempt_at"],
                name="inbound_pending_idx",
            ),
        ),
    ]
