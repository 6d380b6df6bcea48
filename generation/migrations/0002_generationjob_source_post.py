"""Formerly added `GenerationJob.source_post`, a foreign key to feed's posts: generation
depended on feed. The link now lives in feed (`feed.RemixSource`); feed's migration 0003
moves existing links there and drops the column from databases that have it. This
migration stays, empty, so databases that applied it keep a consistent history."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0001_initial'),
    ]

    operations = []
