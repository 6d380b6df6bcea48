"""Reports carry their reporter's trust (`weight`) and the staff verdict (`upheld`).

Reports made before this counted one each towards hiding: they keep a weight of 1. Their
verdict is unknown (None), so they add nothing to their reporters' history."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("feed", "0003_remixsource"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="weight",
            field=models.FloatField(default=1.0),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="report",
            name="weight",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="report",
            name="upheld",
            field=models.BooleanField(blank=True, null=True),
        ),
    ]
