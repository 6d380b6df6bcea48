from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('feed', '0006_post_cameo_takedown'),
    ]

    operations = [
        migrations.AddField(
            model_name='post',
            name='localize_markets',
            field=models.JSONField(blank=True, db_default=models.Value([], output_field=models.JSONField()),
                                   default=list),
        ),
    ]
