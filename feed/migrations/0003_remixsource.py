"""The link from a remix job to its source post moves from generation to feed.

Databases migrated before this change have `generation_generationjob.source_post_id` (the old
generation 0002 added it; that migration is now empty): copy its links into
`feed_remixsource`, then drop the column. A fresh database never had it."""

import django.db.models.deletion
from django.db import migrations, models

JOBS = "generation_generationjob"
COLUMN = "source_post_id"


def _has_column(schema_editor) -> bool:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if JOBS not in connection.introspection.table_names(cursor):
            return False
        return any(col.name == COLUMN for col in connection.introspection.get_table_description(cursor, JOBS))


def move_links(apps, schema_editor):
    if not _has_column(schema_editor):
        return
    schema_editor.execute(
        f"INSERT INTO feed_remixsource (job_id, post_id) SELECT j.id, j.{COLUMN} FROM {JOBS} j "
        f"JOIN feed_post p ON p.id = j.{COLUMN}"
    )
    if schema_editor.connection.vendor == "sqlite":
        # SQLite cannot drop a column a foreign key uses: rebuild the table from the model
        # state, which no longer has the column.
        schema_editor._remake_table(apps.get_model("generation", "GenerationJob"))
    else:
        # Drops the foreign key constraint and the index with it.
        schema_editor.execute(f"ALTER TABLE {JOBS} DROP COLUMN {COLUMN}")


class Migration(migrations.Migration):

    dependencies = [
        ('feed', '0002_views_flush'),
        ('generation', '0002_generationjob_source_post'),
    ]

    operations = [
        migrations.CreateModel(
            name='RemixSource',
            fields=[
                ('job', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                             related_name='remix_source', serialize=False,
                                             to='generation.generationjob')),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='remix_jobs',
                                           to='feed.post')),
            ],
        ),
        migrations.RunPython(move_links, migrations.RunPython.noop),
    ]
