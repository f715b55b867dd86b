from django.db import migrations, models


class Migration(migrations.Migration):
    """Indexes the REST API's incremental reads need.

    GET /api/v1/customers/?updated_since=... reads
    WHERE updated_at >= ? ORDER BY id: without an index every page scans the
    whole customer table. (Conversations already have conversation_updated_idx;
    advisers are few.)
    """

    dependencies = [
        ("conversations", "0002_search_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["updated_at"], name="customer_updated_idx"),
        ),
    ]
