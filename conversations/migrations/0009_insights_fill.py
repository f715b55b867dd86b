"""Fill the Insights metrics and roll-ups of an existing archive, in
batches of 2,000 conversations a transaction (``insights.store.rebuild_all``)."""

from django.db import migrations


def fill(apps, schema_editor):
    from conversations.insights.store import Tables, rebuild_all

    tables = Tables(
        **{
            name: apps.get_model("conversations", name)
            for name in (
                "Conversation",
                "Message",
                "Adviser",
                "ConversationMetrics",
                "InsightsHour",
                "InsightsPendingHour",
            )
        }
    )
    rebuild_all(tables=tables)


class Migration(migrations.Migration):
    # Batches commit one by one: a large archive does not fill in one transaction.
    atomic = False

    dependencies = [("conversations", "0008_insights_tables")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
