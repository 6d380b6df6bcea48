"""Notifications benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/notifications.py      (or: scripts/bench.sh notifications)

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL; defaults are the test ones); uses its
own database, `<name>_bench` (shared with bench/generation.py), created and migrated here.

1. likes per second on one viral post, each `like_create` in its own transaction with its
   notification (the hot path a viral post takes: Like row, counter, inbox row, throttled
   socket event), from 1 and from 4 threads;
2. reading the inbox: GET-equivalent `notification_groups` (first page of 20 groups, texts
   rendered) for a user with N notifications spread over G groups, p50/p99 over repeated reads;
   and `notifications_unread_count`.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The helpers of bench/generation.py (its name is the app's, so it is loaded by path).
_spec = importlib.util.spec_from_file_location("bench_generation", Path(__file__).with_name("generation.py"))
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
_create_database, _pct, _setup_env = _bench._create_database, _bench._pct, _bench._setup_env


def _users(prefix: str, count: int):
    from accounts.models import User

    existing = {u.handle: u for u in User.objects.filter(handle__startswith=prefix)}
    missing = [User(email=f"{prefix}{i}@example.com", handle=f"{prefix}{i}") for i in range(count)
               if f"{prefix}{i}" not in existing]
    User.objects.bulk_create(missing, batch_size=2000)
    return list(User.objects.filter(handle__startswith=prefix).order_by("pk")[:count])


def bench_likes(likers: int) -> None:
    from django.db import connection

    from accounts.models import Notification, User
    from feed import services
    from feed.models import Like
    from feed.tests.factories import PostFactory

    from feed import notifications

    fans = _users("bnl_", likers)
    real_notify = notifications.like_notify
    for threads, notify in ((1, False), (1, True), (4, True)):
        notifications.like_notify = real_notify if notify else (lambda **kwargs: None)
        author = User.objects.create(email=f"bench-author-{uuid.uuid4().hex}@example.com",
                                     handle=f"ba_{uuid.uuid4().hex[:12]}")
        post = PostFactory(author=author)

        def like(chunk):
            try:
                for fan in chunk:
                    services.like_create(user=fan, post_id=post.pk)
            finally:
                connection.close()

        chunks = [fans[i::threads] for i in range(threads)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(like, chunks))
        rate = likers / (time.perf_counter() - start)
        told = Notification.objects.filter(user=post.author, type="post.liked").count()
        print(f"likes {'with' if notify else 'without'} notifications on one post: {rate:.0f}/s from "
              f"{threads} thread(s) ({likers} likes, {told} inbox rows)")
        Like.objects.filter(post=post).delete()
        Notification.objects.filter(user=post.author).delete()
    notifications.like_notify = real_notify


def bench_inbox(notifications: int, groups: int, reads: int = 50) -> None:
    from accounts.models import Notification
    from accounts.notifications.selectors import notification_groups, notifications_unread_count

    reader, = _users("bnr_reader", 1)
    actors = _users("bna_", 200)
    Notification.objects.filter(user=reader).delete()
    Notification.objects.bulk_create([
        Notification(user=reader, type="post.liked", group_key=f"post.liked:{i % groups}", actor=actors[i % 200],
                     target=f"post:{i % groups}", data={"post_id": i % groups}) for i in range(notifications)
    ], batch_size=5000)
    timings, counts = [], []
    for _ in range(reads):
        start = time.perf_counter()
        page = notification_groups(user=reader, limit=20)
        timings.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        notifications_unread_count(user_id=reader.pk)
        counts.append((time.perf_counter() - start) * 1000)
    print(f"inbox first page ({notifications} notifications in {groups} groups, {len(page)} groups rendered): "
          f"p50={_pct(timings, 50):.1f} ms p99={_pct(timings, 99):.1f} ms mean={statistics.fmean(timings):.1f} ms")
    print(f"unread count (same inbox): p50={_pct(counts, 50):.1f} ms p99={_pct(counts, 99):.1f} ms")
    Notification.objects.filter(user=reader).delete()


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
        _setup_env(str(Path(tmp) / "media"))
        import django

        django.setup()
        _create_database()
        print(f"machine: {os.cpu_count()} cores")
        bench_likes(1000)
        bench_inbox(10_000, 500)
        bench_inbox(100_000, 5_000)


if __name__ == "__main__":
    main()
