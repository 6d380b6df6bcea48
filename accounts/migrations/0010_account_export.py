import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0009_account_deletion'),
    ]

    operations = [
        migrations.CreateModel(
            name='AccountExport',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('pending', 'Waiting for a worker'), ('running', 'Being built'), ('ready', 'Ready to download'), ('failed', 'Failed'), ('expired', 'Expired (file deleted)')], default='pending', max_length=8)),
                ('file', models.FileField(blank=True, max_length=255, upload_to='')),
                ('size_bytes', models.PositiveBigIntegerField(blank=True, null=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('error', models.CharField(blank=True, max_length=300)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='account_exports', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['user', '-created_at'], name='account_export_user_recent'), models.Index(fields=['status', 'expires_at'], name='account_export_status_expiry')],
            },
        ),
    ]
