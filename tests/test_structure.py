"""The shape DESIGN.md sets: apps depend one way, config < accounts < billing < generation <
feed < creators. A lower app never imports a higher one, no model points up, and no
migration of a lower app depends on a higher app's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

ORDER = ["config", "accounts", "billing", "generation", "feed", "creators"]
ROOT = Path(__file__).resolve().parent.parent


def _rank(name: str) -> int | None:
    top = name.split(".")[0]
    return ORDER.index(top) if top in ORDER else None


def _imports(path: Path) -> set[str]:
    """Every absolute module name the file imports, at any depth (function-local ones too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


# The composition roots: the URL conf and the ASGI routing name every app's views by design.
COMPOSITION_ROOTS = {"config/urls.py", "config/asgi.py"}


def _upward_imports() -> list[str]:
    found = []
    for app in ORDER:
        for path in sorted((ROOT / app).rglob("*.py")):
            if {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
                continue
            if str(path.relative_to(ROOT)) in COMPOSITION_ROOTS:
                continue
            for name in sorted(_imports(path)):
                if (rank := _rank(name)) is not None and rank > ORDER.index(app):
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_no_app_imports_a_higher_app():
    assert _upward_imports() == []


def test_the_upward_import_check_sees_function_local_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from feed.selectors import remixable_post\n")
    assert _imports(probe) == {"feed.selectors"}


def test_no_model_points_to_a_higher_app():
    upward = []
    for model in apps.get_models():
        rank = _rank(model._meta.app_label)
        if rank is None:
            continue
        for field in model._meta.get_fields(include_hidden=True):
            if field.is_relation and field.concrete and field.related_model is not None:
                target = _rank(field.related_model._meta.app_label)
                if target is not None and target > rank:
                    upward.append(f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}")
    assert upward == []


def test_no_migration_depends_on_a_higher_app():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    upward = []
    for (app, name), migration in loader.disk_migrations.items():
        rank = _rank(app)
        if rank is None:
            continue
        for dep_app, dep_name in migration.dependencies:
            target = _rank(dep_app)
            if target is not None and target > rank:
                upward.append(f"{app}.{name} -> {dep_app}.{dep_name}")
    assert upward == []


@pytest.mark.django_db(transaction=True)
def test_a_database_at_the_old_head_moves_its_remix_links_into_feed():
    """Before feed 0003, `generation_generationjob.source_post_id` held the link (added by the old
    generation 0002, now empty). Rebuild that state, migrate, and the links are in feed."""
    executor = MigrationExecutor(connection)
    executor.migrate([("feed", "0002_views_flush")])
    old = executor.loader.project_state([("feed", "0002_views_flush"),
                                         ("generation", "0002_generationjob_source_post")]).apps
    with connection.schema_editor() as editor:
        editor.execute("ALTER TABLE generation_generationjob ADD COLUMN source_post_id bigint NULL "
                       "REFERENCES feed_post (id) DEFERRABLE INITIALLY DEFERRED")
    user = old.get_model("accounts", "User").objects.create(email="old@example.com", handle="old")
    Job, Post = old.get_model("generation", "GenerationJob"), old.get_model("feed", "Post")
    fields = dict(prompt="p", duration_seconds=4, width=480, height=854, fps=8, seed=1, backend="preview", cost=4)
    source = Job.objects.create(user=user, kind="text_to_video", status="succeeded", video="v.mp4", **fields)
    post = Post.objects.create(author=user, generation=source)
    remix = Job.objects.create(user=user, kind="remix", source_job=source, **fields)
    plain = Job.objects.create(user=user, kind="text_to_video", **fields)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE generation_generationjob SET source_post_id = %s WHERE id = %s", [post.pk, remix.pk])

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    RemixSource = apps.get_model("feed", "RemixSource")
    assert list(RemixSource.objects.values_list("job_id", "post_id")) == [(remix.pk, post.pk)]
    assert not RemixSource.objects.filter(job_id=plain.pk).exists()
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "generation_generationjob")]
    assert "source_post_id" not in columns
    assert "source_job_id" in columns
