"""Account purge benchmark: prints figures, asserts nothing.

    make bench-account-purge            (or: .venv/bin/python bench/account_purge.py --posts 100 500)

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL; defaults are the test ones) and uses its
own database, `<name>_purge_bench`, which it creates and migrates. For each N it seeds one
account with N posts (each with its generation job and two stored files; one post in ten
remixed by someone else, so it stays as a tombstone), N likes and N/2 comments on other
people's posts, 50 followers, credits and a creator profile; asks for the deletion, makes it
due, and times the beat task's purge of it (accounts.deletion.services.account_purge): wall
time and SQL queries, storage deletes included (local files).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup_env(media: str) -> None:
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/clipsocial")
    os.environ["DATABASE_URL"] = base_db.rstrip("/") + "_purge_bench"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ["DJANGO_ENV"] = "test"
    os.environ["MEDIA_ROOT"] = media
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _create_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                         dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(n_posts: int, run: str):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from accounts.models import Follow, User
    from billing.services import ledger
    from creators.models import CreatorProfile
    from feed.models import Comment, Like, Post
    from generation.models import GenerationJob, JobKind, JobStatus

    def user(tag: str) -> User:
        return User.objects.create_user(email=f"{tag}-{run}@bench.invalid", password=None, handle=f"{tag}_{run}"[:30],
                                        birth_year=1990, country="US")

    person, other = user("p"), user("o")
    fans = User.objects.bulk_create([User(email=f"f{i}-{run}@bench.invalid", handle=f"f{i}_{run}"[:30],
                                          password="!", birth_year=1990) for i in range(50)])
    Follow.objects.bulk_create([Follow(follower=fan, followee=person) for fan in fans])
    User.objects.filter(pk=person.pk).update(followers_count=len(fans))
    ledger.credits_grant(user_id=person.pk, amount=500, key=f"bench-{run}")
    CreatorProfile.objects.create(user=person, country="US", languages=["en"])
    now = timezone.now()
    jobs = []
    for i in range(n_posts):
        video = default_storage.save(f"bench/{run}/{i}/video.mp4", ContentFile(b"\0" * 1024))
        poster = default_storage.save(f"bench/{run}/{i}/poster.jpg", ContentFile(b"\0" * 256))
        jobs.append(GenerationJob(user=person, kind=JobKind.TEXT_TO_VIDEO, status=JobStatus.SUCCEEDED, prompt="boat",
                                  duration_seconds=4, width=480, height=854, fps=24, seed=i, backend="preview",
                                  cost=4, video=video, poster=poster, finished_at=now))
    GenerationJob.objects.bulk_create(jobs)
    posts = Post.objects.bulk_create([Post(author=person, generation=job, caption=f"post {i}", language="en")
                                      for i, job in enumerate(jobs)])
    remixed = posts[::10]
    Post.objects.bulk_create([Post(author=other, parent=p, root=p, lineage=[p.pk]) for p in remixed])
    Post.objects.filter(pk__in=[p.pk for p in remixed]).update(remixes_count=1)
    theirs = Post.objects.bulk_create([Post(author=other, caption=f"theirs {i}") for i in range(n_posts)])
    Like.objects.bulk_create([Like(user=person, post=p) for p in theirs])
    Comment.objects.bulk_create([Comment(post=p, author=person, body="nice") for p in theirs[: n_posts // 2]])
    Post.objects.filter(pk__in=[p.pk for p in theirs]).update(likes_count=1)
    Post.objects.filter(pk__in=[p.pk for p in theirs[: n_posts // 2]]).update(comments_count=1)
    return person


def _purge_once(n_posts: int, run: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.deletion.services import account_delete_request, account_purge
    from accounts.models import AccountDeletion
    from accounts.tests.factories import DEFAULT_PASSWORD

    person = _seed(n_posts, run)
    person.set_password(DEFAULT_PASSWORD)
    person.save(update_fields=["password"])
    deletion = account_delete_request(user=person, password=DEFAULT_PASSWORD)
    AccountDeletion.objects.filter(pk=deletion.pk).update(purge_after=timezone.now() - timedelta(seconds=1))
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        outcome = account_purge(deletion_id=deletion.pk)
        elapsed = time.perf_counter() - started
    if outcome != "purged":
        raise SystemExit(f"purge of {n_posts} posts ended {outcome!r}")
    return elapsed, len(queries.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    media = tempfile.mkdtemp(prefix="purge-bench-")
    _setup_env(media)
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # hashing is not measured
    settings.DEBUG = False
    _create_database()
    stamp = str(int(time.time()))[-6:]
    print("account purge (accounts.deletion.services.account_purge), one account:")
    for n in args.posts:
        figures = [_purge_once(n, f"{n}r{i}{stamp}") for i in range(args.repeat)]
        times = sorted(t for t, _ in figures)
        print(f"  {n:>5} posts: median {times[len(times) // 2]:.2f} s (min {times[0]:.2f} s, max {times[-1]:.2f} s), "
              f"{figures[-1][1]} queries, {args.repeat} runs")


if __name__ == "__main__":
    main()
