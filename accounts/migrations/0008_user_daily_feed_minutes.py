from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_cameos")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="daily_feed_minutes",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
    ]
