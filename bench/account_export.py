"""Account export benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/account_export.py [--posts 100] [--video-kb 800]   (or: scripts/bench.sh account_export)

Needs PostgreSQL (DATABASE_URL; its `<name>_bench` database, created and migrated here) and
local storage in a temporary MEDIA_ROOT. Seeds one user with `--posts` posts, each with its own
generation (an MP4 of `--video-kb` random bytes, incompressible like a real one, and a 40 KB
poster), plus likes, comments, follows and credit entries; then builds the export as the task
does and prints: seconds, SQL queries, archive size against the media's, and the peak of
Python memory allocated during a second build (tracemalloc), which stays far below the media
size because the media are copied from storage to the temporary file in chunks.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The helpers of bench/generation.py (its name is the app's, so it is loaded by path).
_spec = importlib.util.spec_from_file_location("bench_generation", Path(__file__).with_name("generation.py"))
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
_create_database, _setup_env = _bench._create_database, _bench._setup_env

POSTER_BYTES = 40 * 1024


def _seed(posts: int, video_bytes: int):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from accounts.models import Follow, User
    from billing.services.ledger import credits_grant
    from feed.models import Comment, Like, Post
    from generation.models import GenerationJob

    tag = uuid.uuid4().hex[:10]
    user = User.objects.create(email=f"exp-{tag}@example.com", handle=f"exp_{tag}", display_name="Bench")
    others = User.objects.bulk_create([User(email=f"exo-{tag}-{i}@example.com", handle=f"exo_{tag}_{i}")
                                       for i in range(50)])
    Follow.objects.bulk_create([Follow(follower=user, followee=o) for o in others[:25]]
                               + [Follow(follower=o, followee=user) for o in others[25:]])
    media = 0
    for i in range(posts):
        video = default_storage.save(f"generations/bench/{tag}/{i}/video.mp4", ContentFile(os.urandom(video_bytes)))
        poster = default_storage.save(f"generations/bench/{tag}/{i}/poster.jpg",
                                      ContentFile(os.urandom(POSTER_BYTES)))
        media += video_bytes + POSTER_BYTES
        job = GenerationJob.objects.create(user=user, kind="text_to_video", status="succeeded",
                                           prompt=f"bench prompt {i}: a paper boat in a neon city", duration_seconds=4,
                                           width=480, height=854, fps=24, seed=i, backend="preview", cost=4,
                                           video=video, poster=poster)
        Post.objects.create(author=user, generation=job, caption=f"post {i} #bench", hashtags=["bench"])
    theirs = Post.objects.create(author=others[0], caption="theirs")
    Like.objects.create(user=user, post=theirs)
    Comment.objects.bulk_create([Comment(post=theirs, author=user, body=f"comment {i}") for i in range(200)])
    for i in range(100):
        credits_grant(user_id=user.pk, amount=5, key=f"bench-export-{tag}-{i}", reason="bench")
    return user, media


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--video-kb", type=int, default=800)
    args = parser.parse_args()

    media_root = tempfile.mkdtemp(prefix="bench-export-media-")
    _setup_env(media_root)
    import django

    django.setup()
    _create_database()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.exports.models import AccountExport
    from accounts.exports.services import account_export_build
    from config.celery import app

    app.send_task = lambda *a, **kw: None  # the ready notification's push: no broker needed here

    try:
        user, media = _seed(args.posts, args.video_kb * 1024)
        export = AccountExport.objects.create(user=user)
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            account_export_build(export_id=export.pk)
            seconds = time.perf_counter() - start
        export.refresh_from_db()
        path = Path(media_root) / export.file.name
        with zipfile.ZipFile(path) as archive:
            entries = len(archive.namelist())

        AccountExport.objects.filter(pk=export.pk).update(status="pending", started_at=None)
        tracemalloc.start()
        account_export_build(export_id=export.pk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        mb = 1024 * 1024
        print(f"account export of {args.posts} posts with media ({args.video_kb} KB video + "
              f"{POSTER_BYTES // 1024} KB poster each), 200 comments, 50 follow edges, 101 credit entries:")
        print(f"  build: {seconds:.2f} s, {len(queries)} SQL queries, {entries} ZIP entries")
        print(f"  archive: {export.size_bytes / mb:.1f} MiB for {media / mb:.1f} MiB of media "
              f"({export.size_bytes / media:.3f}x)")
        print(f"  throughput: {export.size_bytes / mb / seconds:.0f} MiB/s; peak Python allocation during a "
              f"build: {peak / mb:.1f} MiB")
    finally:
        shutil.rmtree(media_root, ignore_errors=True)


if __name__ == "__main__":
    main()
