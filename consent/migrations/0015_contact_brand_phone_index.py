from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without locking contacts against writes: sign-ups keep arriving meanwhile.
    atomic = False

    dependencies = [
        ("consent", "0014_method_connector"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("phone__isnull", False)),
                fields=["brand", "phone"],
                name="contact_brand_phone",
            ),
        ),
    ]
