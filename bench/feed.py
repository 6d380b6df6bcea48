"""Feed benchmark: prints figures, asserts nothing.

    make bench-feed            (or: .venv/bin/python bench/feed.py [--reseed])

Needs PostgreSQL, Redis and wrk (scripts/bench.sh installs wrk from Debian when
it is missing). Uses its own databases, `<name>_bench_feed` (the full data set)
and `<name>_bench_feed_small` (the same users and follow graph with 10k posts),
which it creates, migrates and seeds with COPY. A seeded database is reused when
its size matches the arguments; --reseed seeds it again.

1. Seeds users (locales and countries of many markets), a power-law follow graph
   (each user follows 20-200 others), posts spread over 30 days (remixes, hashtags,
   some followers-only, private or moderated), one succeeded generation job per
   post and likes with power-law popularity; post and user counters match the rows.
   Then runs `feed.ranking.scores_refresh()` as the periodic task would.
2. Starts the API as in production: DJANGO_ENV=production, DEBUG off, Redis cache,
   `uvicorn config.asgi:application --workers N`. DATABASE_CONN_MAX_AGE stays 0
   (--conn-max-age to change it): under ASGI every request runs in a thread of its
   own, so persistent connections pile up, one per request thread, until
   PostgreSQL answers "too many clients"; Django's docs say to disable them there.
3. Loads it over loopback, rotating the tokens of 200 seeded users: first the
   capacity with wrk (closed loop, up to 32 connections, no think time), in --rounds
   rounds over all endpoints (each endpoint's capacity is the mean of its rounds: the
   machine's speed drifts within minutes), and right after an endpoint's last round,
   70 % of that rate at a constant arrival rate (wrk2's method; wrk2 is not packaged, so a small asyncio client here does it),
   latency counted from each request's due time so a slow response cannot hide the
   queue behind it. Endpoints: GET /api/v1/me (trivial: JWT auth, one query),
   /feed/for-you first page (every request ranks and stores a fresh snapshot),
   /feed/for-you while scrolling (1 request in 5 is a first page, the others are cursor
   pages of snapshots made before the run), /feed/following (first page).
   With --renditions SHARE, that share of the posts has been localised (feed.renditions): a
   localize job each and 1-4 succeeded renditions (subtitles, some dubbed) in the app's
   languages, seeded into both databases; cards then carry them and play the viewer's.
4. The same for-you and following load on the 10k-post database, served by a second
   server started beside the first, in runs alternated with the full size, for the p50
   at 10k posts against 1M; and the p50 of 40 sequential requests on each.

wrk, PostgreSQL and Redis share the machine's cores with the API workers: the
figures are what one small machine does, not what one API process does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED_VERSION = 2  # 2: feed_post.takedown_reason
LOCALES = [  # locale, country, weight
    ("en-US", "US", 28), ("en-GB", "GB", 5), ("es-MX", "MX", 8), ("es-ES", "ES", 3), ("pt-BR", "BR", 10),
    ("id-ID", "ID", 7), ("hi-IN", "IN", 7), ("en-IN", "IN", 5), ("ja-JP", "JP", 5), ("ko-KR", "KR", 4),
    ("de-DE", "DE", 4), ("fr-FR", "FR", 4), ("tr-TR", "TR", 3), ("vi-VN", "VN", 3), ("ar-SA", "SA", 3),
    ("it-IT", "IT", 1),
]
SUBJECTS = ["a red fox", "an astronaut cat", "a paper boat", "a neon city", "a tiny dragon", "a lighthouse",
            "a robot chef", "a koi pond", "a skateboarding dog", "a glass whale", "a desert train", "a snow owl"]
ACTIONS = ["dancing", "flying", "melting", "glowing", "running", "sleeping", "exploding into petals", "surfing"]
PLACES = ["in the rain", "at sunset", "under the sea", "on the moon", "in a cyberpunk alley", "in a forest",
          "on a rooftop", "in slow motion"]
TAGS = ["ai", "aivideo", "sora", "remix", "cats", "dogs", "anime", "scifi", "fantasy", "music", "dance", "comedy",
        "travel", "food", "art", "nature", "cyberpunk", "vaporwave", "cinematic", "trend", "challenge", "meme",
        "pixar", "lofi", "retro", "space", "ocean", "football", "kpop", "fashion"] + [f"topic{i}" for i in range(270)]
SIZES = [(480, 854), (720, 1280), (1080, 1920)]
# Rendition languages (BCP 47, as the localisation worker stores them).
RENDITION_LANGUAGES = ["en", "es", "pt-BR", "hi", "id", "ja", "zh-Hans", "ar"]

FEED_PATHS = {
    "me": "/api/v1/me",
    "for_you": "/api/v1/feed/for-you",
    "following": "/api/v1/feed/following",
}

# wrk script: each request picks one of the (token, path) lines at random; prints one JSON line at the end.
WRK_LUA = r"""
local requests = {}
local id = 0

function setup(thread)
  id = id + 1
  thread:set("thread_id", id)
end

function init(args)
  for line in io.lines(args[1]) do
    local token, path = line:match("^(%S+)%s+(%S+)$")
    if token then requests[#requests + 1] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token}) end
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"status_errors":%d,"timeouts":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.timeout, e.connect + e.read + e.write))
end
"""


# --- environment and databases ------------------------------------------------------------------

def _setup_env(conn_max_age: int) -> tuple[str, str]:
    """Production settings for this process and the servers it starts. Returns the two database URLs."""
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/clipsocial").rstrip("/")
    full_url, small_url = base_db + "_bench_feed", base_db + "_bench_feed_small"
    os.environ.update({
        "DATABASE_URL": full_url,
        "DJANGO_ENV": "production",
        "DEBUG": "false",
        # Tokens are minted for this run only: a fresh key each time.
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        # wrk connects directly: no proxy in front (production refuses to guess).
        "NUM_PROXIES": "0",
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
        "LOG_LEVEL": "WARNING",
        "JWT_ACCESS_TOKEN_LIFETIME": "7200",
        # Nothing is rendered here: no signing keys needed (production refuses to start without).
        "PROVENANCE_REQUIRED": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    })
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
    return full_url, small_url


def _use_database(name: str) -> None:
    """Point Django's default connection at another database of the same server."""
    from django.db import connections

    conn = connections["default"]
    conn.close()
    if getattr(conn, "pool", None) is not None:  # a psycopg pool keeps the old database's address
        conn.close_pool()
    conn.settings_dict["NAME"] = name


def _create_database(name: str) -> None:
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    _use_database(name)
    call_command("migrate", verbosity=0)


# --- progress -----------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar (redrawn on a terminal, printed every 25 % otherwise)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.start = self.last = time.perf_counter()
        self.tty = sys.stdout.isatty()
        self.next_mark = 0.25
        self._draw()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.tty and now - self.last >= 0.2:
            self.last = now
            self._draw()
        elif not self.tty and self.done / self.total >= self.next_mark and self.done < self.total:
            self.next_mark += 0.25
            self._draw()

    def close(self) -> None:
        self.done = self.total if self.done < self.total else self.done
        self._draw(final=True)

    def _draw(self, final: bool = False) -> None:
        fraction = min(self.done / self.total, 1.0)
        bar = "#" * int(fraction * 30)
        line = (f"  {self.label:<18} [{bar:<30}] {fraction * 100:5.1f}% {self.done:>10,}/{self.total:,} "
                f"{time.perf_counter() - self.start:6.1f}s")
        if self.tty:
            print("\r" + line, end="\n" if final else "", flush=True)
        elif final or self.done == 0 or fraction < 1:
            print(line, flush=True)


# --- seeding ------------------------------------------------------------------------------------

def _iso(us):
    """int64 microseconds since the epoch -> timestamptz text for COPY."""
    import numpy as np

    return np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="us"), "+00").tolist()


def _copy(cursor, table: str, columns: list[str], total: int, rows, label: str, chunk: int = 20_000) -> None:
    """COPY `rows(start, stop)` (tab-separated lines) into `table`, chunk by chunk. Indexes that back
    no constraint are dropped first and built again after: one sort beats a million B-tree inserts."""
    cursor.execute("SELECT pg_get_indexdef(x.indexrelid), x.indexrelid::regclass::text FROM pg_index x "
                   "WHERE x.indrelid = %s::regclass "
                   "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", [table])
    indexes = cursor.fetchall()
    for _, name in indexes:
        cursor.execute(f"DROP INDEX {name}")
    progress = Progress(label, total)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            copy.write("\n".join(rows(start, stop)) + "\n")
            progress.update(stop - start)
    progress.close()
    started = time.perf_counter()
    for definition, _ in indexes:
        cursor.execute(definition)
    if indexes:
        print(f"  {label:<18} {len(indexes)} indexes built again in {time.perf_counter() - started:.1f}s", flush=True)


def _generate(users: int, posts: int, likes: int, seed: int, now_us: int) -> dict:
    """Every column of the data set as arrays, so counters are consistent by construction."""
    import numpy as np

    rng = np.random.default_rng(seed)
    day = 86_400 * 1_000_000
    U, P = users, posts

    # Users: the same for every post count (the same seed draws them first).
    locale_weights = np.array([w for _, _, w in LOCALES], dtype=float)
    user_locale = rng.choice(len(LOCALES), U, p=locale_weights / locale_weights.sum())
    user_created = now_us - (30 * day + (rng.random(U) * 370 * day).astype(np.int64))
    user_active = rng.random(U) >= 0.005
    birth_year = rng.integers(1965, 2010, U)

    # Follow graph: each user follows 20-200 others (log-uniform); half of the picks follow a
    # Zipf-like popularity (a few celebrities followed by most), half are uniform (friends).
    popularity_rank = rng.permutation(U)
    zipf = 1.0 / (popularity_rank + 1.0) ** 0.9
    zipf /= zipf.sum()
    wanted = (20 * 10 ** rng.random(U)).astype(np.int64)
    draws = (wanted * 1.3).astype(np.int64) + 2
    follower = np.repeat(np.arange(U), draws)
    popular = rng.random(follower.size) < 0.5
    followee = np.where(popular, rng.choice(U, follower.size, p=zipf), rng.integers(0, U, follower.size))
    keys = np.unique(follower.astype(np.int64) * U + followee)
    follower, followee = keys // U, keys % U
    keep = follower != followee
    follower, followee = follower[keep], followee[keep]
    group_start = np.searchsorted(follower, np.arange(U))
    rank_in_group = np.arange(follower.size) - group_start[follower]
    keep = rank_in_group < wanted[follower]
    follower, followee = follower[keep], followee[keep]
    order = rng.permutation(follower.size)  # ids not grouped by follower, as in life
    follower, followee = follower[order], followee[order]
    since = np.maximum(user_created[follower], user_created[followee])
    follow_created = since + (rng.random(follower.size) * (now_us - since)).astype(np.int64)
    followers_count = np.bincount(followee, minlength=U)
    following_count = np.bincount(follower, minlength=U)

    # Posts, oldest first so ids grow with time. Authors with more followers post more.
    post_rng = np.random.default_rng(seed + 1)
    author_weight = (followers_count + 5.0) ** 0.7
    author = post_rng.choice(U, P, p=author_weight / author_weight.sum())
    post_created = np.sort(now_us - (post_rng.random(P) * 30 * day).astype(np.int64))
    own_language = post_rng.random(P) < 0.85
    language = np.where(own_language, user_locale[author], post_rng.integers(0, len(LOCALES), P))
    visibility = post_rng.choice(3, P, p=[0.90, 0.08, 0.02])  # public, followers, private
    status = post_rng.choice(4, P, p=[0.985, 0.005, 0.005, 0.005])  # active, hidden, removed, deleted
    index = np.arange(P)
    is_remix = (post_rng.random(P) < 0.15) & (index > 20)
    back = 1 + post_rng.exponential(max(P / 200, 1), P).astype(np.int64)  # mostly remixes of recent posts
    parent = np.where(is_remix, np.maximum(0, index - back), -1)
    root = np.full(P, -1)
    lineage: list = [None] * P
    parent_list = parent.tolist()
    for i in np.flatnonzero(is_remix).tolist():
        p = parent_list[i]
        if parent_list[p] >= 0:
            root[i] = root[p]
            lineage[i] = lineage[p] + [p + 1]
        else:
            root[i] = p
            lineage[i] = [p + 1]
    remixes_count = np.bincount(parent[parent >= 0], minlength=P)
    subject = post_rng.integers(0, len(SUBJECTS), P)
    action = post_rng.integers(0, len(ACTIONS), P)
    place = post_rng.integers(0, len(PLACES), P)
    tag_count = post_rng.integers(0, 4, P)
    tag_zipf = 1.0 / (np.arange(len(TAGS)) + 1.0)
    tag_pick = post_rng.choice(len(TAGS), (P, 3), p=tag_zipf / tag_zipf.sum())
    size = post_rng.choice(len(SIZES), P, p=[0.5, 0.4, 0.1])
    duration = post_rng.choice([4, 8, 12], P, p=[0.5, 0.35, 0.15])
    job_seed = post_rng.integers(0, 2**31 - 1, P)
    job_ids = post_rng.bytes(16 * P)

    # Likes: post popularity is heavy-tailed (author reach times luck), users' activity too.
    like_rng = np.random.default_rng(seed + 2)
    post_weight = np.sqrt(followers_count[author] + 1.0) * like_rng.lognormal(0.0, 1.8, P)
    post_weight /= post_weight.sum()
    activity = 1.0 / (like_rng.permutation(U) + 1.0) ** 0.5
    activity /= activity.sum()
    like_keys = np.empty(0, dtype=np.int64)
    while like_keys.size < likes:
        n = int((likes - like_keys.size) * 1.2) + 1000
        fresh = like_rng.choice(P, n, p=post_weight).astype(np.int64) * U + like_rng.choice(U, n, p=activity)
        like_keys = np.unique(np.concatenate([like_keys, fresh]))
    like_keys = np.sort(like_rng.choice(like_keys, likes, replace=False))
    like_post, like_user = like_keys // U, like_keys % U
    like_created = post_created[like_post] + (
        like_rng.random(likes) ** 2 * (now_us - post_created[like_post])).astype(np.int64)
    likes_count = np.bincount(like_post, minlength=P)
    views_count = likes_count * like_rng.integers(8, 40, P) + like_rng.integers(0, 50, P)

    return {k: v for k, v in locals().items() if k not in {"np", "rng", "post_rng", "like_rng"}}


def seed_database(*, users: int, posts: int, likes: int, seed: int) -> None:
    import numpy as np
    from django.db import connection, transaction

    now_us = time.time_ns() // 1000
    started = time.perf_counter()
    print(f"generating data set: {users:,} users, {posts:,} posts, {likes:,} likes ...", flush=True)
    g = _generate(users, posts, likes, seed, now_us)
    print(f"  generated in {time.perf_counter() - started:.1f}s: {g['follower'].size:,} follows "
          f"(per user min {g['following_count'].min()}, median {int(np.median(g['following_count']))}, "
          f"max {g['following_count'].max()}; most followed user has {g['followers_count'].max():,} followers); "
          f"{int(g['is_remix'].sum()):,} remixes; most liked post {g['likes_count'].max():,} likes", flush=True)

    U, P = users, posts
    locale_codes = [loc for loc, _, _ in LOCALES]
    countries = [c for _, c, _ in LOCALES]
    languages = [loc.split("-")[0] for loc, _, _ in LOCALES]
    vis_names, status_names = ["public", "followers", "private"], ["active", "hidden", "removed", "deleted"]

    user_created = _iso(g["user_created"])
    follow_created = _iso(g["follow_created"])
    post_created = _iso(g["post_created"])
    job_created = _iso(g["post_created"] - 90_000_000)
    job_started = _iso(g["post_created"] - 80_000_000)
    job_finished = _iso(g["post_created"] - 30_000_000)
    like_created = _iso(g["like_created"])
    ul, ua, by = g["user_locale"].tolist(), g["user_active"].tolist(), g["birth_year"].tolist()
    fc, gc = g["followers_count"].tolist(), g["following_count"].tolist()

    def user_rows(a: int, b: int):
        for i in range(a, b):
            yield (f"{i + 1}\t!{secrets.token_hex(8)}\tf\tseed{i + 1}@bench.example.com\tseed_{i + 1}\t"
                   f"Seed User {i + 1}\t\t\t{locale_codes[ul[i]]}\t{countries[ul[i]]}\t{by[i]}\t{fc[i]}\t{gc[i]}\t"
                   f"{'t' if ua[i] else 'f'}\tf\t{user_created[i]}\t{user_created[i]}")

    fol, fee = g["follower"].tolist(), g["followee"].tolist()

    def follow_rows(a: int, b: int):
        for i in range(a, b):
            yield f"{i + 1}\t{fol[i] + 1}\t{fee[i] + 1}\t{follow_created[i]}"

    author, parent, root = g["author"].tolist(), g["parent"].tolist(), g["root"].tolist()
    subject, action, place = g["subject"].tolist(), g["action"].tolist(), g["place"].tolist()
    tag_count, tag_pick = g["tag_count"].tolist(), g["tag_pick"].tolist()
    size, duration, job_seed = g["size"].tolist(), g["duration"].tolist(), g["job_seed"].tolist()
    raw_ids = g["job_ids"]
    job_ids = [str(uuid.UUID(bytes=raw_ids[16 * i:16 * i + 16], version=4)) for i in range(P)]
    prompts = [f"{SUBJECTS[subject[i]]} {ACTIONS[action[i]]} {PLACES[place[i]]}" for i in range(P)]
    tags = [list(dict.fromkeys(TAGS[t] for t in tag_pick[i][:tag_count[i]])) for i in range(P)]

    def job_rows(a: int, b: int):
        for i in range(a, b):
            w, h = SIZES[size[i]]
            base = f"generation/{author[i] + 1}/{job_ids[i]}"
            yield (f"{job_ids[i]}\t{author[i] + 1}\t{'remix' if parent[i] >= 0 else 'text_to_video'}\tsucceeded\t"
                   f"{prompts[i]}\t\t{duration[i]}\t{w}\t{h}\t24\t{job_seed[i]}\t\tpreview\t{duration[i] * 5}\t0\tt\t\t"
                   f"100\t5\t1\t0\tf\t\t\t\t{base}/video.mp4\t{base}/poster.jpg\t{float(duration[i])}\t{w}\t{h}\t"
                   f"24.0\t{duration[i] * w * h // 8}\t\t{job_created[i]}\t{job_created[i]}\t{job_started[i]}\t"
                   f"{job_finished[i]}\t{job_finished[i]}")

    def remix_source_rows(a: int, b: int):
        for i in range(a, b):
            if parent[i] >= 0:
                yield f"{job_ids[i]}\t{parent[i] + 1}"

    language, visibility, status = g["language"].tolist(), g["visibility"].tolist(), g["status"].tolist()
    lineage = g["lineage"]
    likes_count, views_count = g["likes_count"].tolist(), g["views_count"].tolist()
    remixes_count = g["remixes_count"].tolist()

    def post_rows(a: int, b: int):
        for i in range(a, b):
            caption = prompts[i] + "".join(f" #{t}" for t in tags[i])
            p = parent[i]
            yield (f"{i + 1}\t{author[i] + 1}\t{job_ids[i]}\t{caption}\t{json.dumps(tags[i])}\t"
                   f"{languages[language[i]]}\t{countries[ul[author[i]]]}\t{vis_names[visibility[i]]}\teveryone\t"
                   f"{status_names[status[i]]}\t{p + 1 if p >= 0 else chr(92) + 'N'}\t"
                   f"{root[i] + 1 if p >= 0 else chr(92) + 'N'}\t{json.dumps(lineage[i] or [])}\t"
                   f"{likes_count[i]}\t0\t{remixes_count[i]}\t{views_count[i]}\t0\t0\t0\t"
                   f"{post_created[i]}\t{post_created[i]}\t")

    lp, lu = g["like_post"].tolist(), g["like_user"].tolist()

    def like_rows(a: int, b: int):
        for i in range(a, b):
            yield f"{i + 1}\t{lu[i] + 1}\t{lp[i] + 1}\t{like_created[i]}"

    tables = ["accounts_user", "accounts_follow", "generation_generationjob", "feed_post", "feed_like"]
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor, for COPY
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        # The rows are consistent by construction: skip the per-row foreign-key triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        _copy(cursor, "accounts_user", ["id", "password", "is_superuser", "email", "handle", "display_name", "avatar",
                                        "bio", "locale", "country", "birth_year", "followers_count", "following_count",
                                        "is_active", "is_staff", "created_at", "updated_at"],
              U, user_rows, "users")
        _copy(cursor, "accounts_follow", ["id", "follower_id", "followee_id", "created_at"],
              len(fol), follow_rows, "follows")
        _copy(cursor, "generation_generationjob",
              ["id", "user_id", "kind", "status", "prompt", "style", "duration_seconds", "width", "height", "fps",
               "seed", "input_image", "backend", "cost", "priority", "watermark", "request_fingerprint", "progress",
               "seq", "attempts", "transient_errors", "cancel_requested", "lease_owner", "error_code",
               "error_message", "video", "poster", "result_duration", "result_width", "result_height",
               "result_fps", "result_bytes", "result_sha256", "created_at", "enqueued_at", "started_at",
               "finished_at", "updated_at"],
              P, job_rows, "generation jobs")
        _copy(cursor, "feed_post",
              ["id", "author_id", "generation_id", "caption", "hashtags", "language", "region", "visibility",
               "remix_policy", "status", "parent_id", "root_id", "lineage", "likes_count", "comments_count",
               "remixes_count", "views_count", "shares_count", "reports_count", "score", "created_at",
               "updated_at", "takedown_reason"],
              P, post_rows, "posts")
        _copy(cursor, "feed_remixsource", ["job_id", "post_id"], P, remix_source_rows, "remix sources")
        _copy(cursor, "feed_like", ["id", "user_id", "post_id", "created_at"], likes, like_rows, "likes")
        for table in ("accounts_user", "accounts_follow", "feed_post", "feed_like"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_seed (params jsonb NOT NULL, seeded_at timestamptz NOT NULL)")
        cursor.execute("DELETE FROM bench_seed")
        cursor.execute("INSERT INTO bench_seed VALUES (%s, now())",
                       [json.dumps(_params(users, posts, likes, seed))])
    _refresh_scores()
    print(f"  seeded in {time.perf_counter() - started:.1f}s", flush=True)


def _params(users: int, posts: int, likes: int, seed: int) -> dict:
    return {"version": SEED_VERSION, "users": users, "posts": posts, "likes": likes, "seed": seed}


def _refresh_scores() -> None:
    from django.db import connection

    from feed.ranking import scores_refresh

    started = time.perf_counter()
    updated = scores_refresh()
    refreshed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_user, accounts_follow, generation_generationjob, feed_post, feed_like")
    print(f"  scores_refresh(): {updated:,} scores written, {refreshed:.1f}s; "
          f"vacuum analyze {time.perf_counter() - started - refreshed:.1f}s", flush=True)
    # What the beat task does every FEED_SCORE_REFRESH_INTERVAL: a minute of decay later, only
    # the scores that moved past FEED_SCORE_REFRESH_TOLERANCE are written.
    from django.utils import timezone

    started = time.perf_counter()
    updated = scores_refresh(now=timezone.now() + timedelta(minutes=1))
    print(f"  scores_refresh() a minute later: {updated:,} scores written, "
          f"{time.perf_counter() - started:.2f}s", flush=True)


def seed_renditions(*, share: float, seed: int) -> None:
    """Localise `share` of the posts of the current database: one succeeded localize job each, with
    1-4 succeeded renditions in other languages than the post's (a third of them dubbed). Kept
    apart from the main seed (their own table row in bench_seed_renditions), so changing the share
    reseeds only them."""
    import numpy as np
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_seed_renditions (share float NOT NULL, seed bigint NOT NULL)")
        cursor.execute("SELECT share, seed FROM bench_seed_renditions")
        row = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM generation_rendition")
        present = cursor.fetchone()[0]
    if row is not None and (abs(row[0] - share) < 1e-9 and row[1] == seed) and (present > 0) == (share > 0):
        print(f"  reusing the seeded renditions ({present:,} for {share:.0%} of the posts)", flush=True)
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT p.generation_id, g.user_id, p.language, p.created_at FROM feed_post p "
                       "JOIN generation_generationjob g ON g.id = p.generation_id ORDER BY p.id")
        posts = cursor.fetchall()
    rng = np.random.default_rng(seed + 3)
    chosen = np.flatnonzero(rng.random(len(posts)) < share).tolist()
    jobs, renditions = [], []
    for i in chosen:
        source, user_id, language, created = posts[i]
        job = uuid.UUID(bytes=rng.bytes(16), version=4)
        finished = (created - timedelta(seconds=10)).isoformat()
        jobs.append((job, user_id, source, finished))
        others = [tag for tag in RENDITION_LANGUAGES if tag.split("-")[0] != language]
        for tag in rng.choice(others, int(rng.integers(1, 5)), replace=False).tolist():
            base = f"generation/{user_id}/{job}/{tag}"
            renditions.append((uuid.UUID(bytes=rng.bytes(16), version=4), job, source, tag, language or "en",
                               bool(rng.random() < 0.33), f"{base}/video.mp4", f"{base}/subtitles.vtt", finished))

    def job_rows(a: int, b: int):
        for job, user_id, source, finished in jobs[a:b]:
            yield (f"{job}\t{user_id}\tlocalize\tsucceeded\tlocalize\t\t4\t480\t854\t24\t0\t\tpreview\t4\t0\tt\t\t"
                   f"100\t5\t1\t0\tf\t\t\t\t\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\t{finished}\t{finished}\t"
                   f"{finished}\t{finished}\t{finished}\t{source}")

    def rendition_rows(a: int, b: int):
        for rid, job, source, tag, source_language, dubbed, video, vtt, finished in renditions[a:b]:
            yield (f"{rid}\t{job}\t{source}\t{tag}\t{source_language}\tf\t{'t' if dubbed else 'f'}\tsucceeded\t"
                   f"mux\t{video}\t{vtt}\t12\t\t\t{finished}\t{finished}")

    # The old ones go in a transaction of their own: their foreign-key checks would still be
    # pending when the COPY below builds the indexes again, which PostgreSQL refuses.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM generation_rendition")
        cursor.execute("DELETE FROM generation_generationjob WHERE kind = 'localize'")
        cursor.execute("DELETE FROM bench_seed_renditions")
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")
        if not jobs:
            cursor.execute("INSERT INTO bench_seed_renditions VALUES (%s, %s)", [share, seed])
            print("  renditions: none", flush=True)
            return
        _copy(cursor, "generation_generationjob",
              ["id", "user_id", "kind", "status", "prompt", "style", "duration_seconds", "width", "height", "fps",
               "seed", "input_image", "backend", "cost", "priority", "watermark", "request_fingerprint", "progress",
               "seq", "attempts", "transient_errors", "cancel_requested", "lease_owner", "error_code",
               "error_message", "video", "poster", "result_duration", "result_width", "result_height",
               "result_fps", "result_bytes", "result_sha256", "created_at", "enqueued_at", "started_at",
               "finished_at", "updated_at", "source_job_id"],
              len(jobs), job_rows, "localize jobs")
        _copy(cursor, "generation_rendition",
              ["id", "job_id", "source_job_id", "language", "source_language", "burned_in", "dubbed", "status",
               "stage", "video", "subtitles", "cues", "error_code", "error_message", "created_at", "finished_at"],
              len(renditions), rendition_rows, "renditions")
        cursor.execute("INSERT INTO bench_seed_renditions VALUES (%s, %s)", [share, seed])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE generation_generationjob, generation_rendition")
    print(f"  renditions: {len(renditions):,} for {len(jobs):,} posts ({share:.0%}) in "
          f"{time.perf_counter() - started:.1f}s", flush=True)


def ensure_seeded(*, name: str, users: int, posts: int, likes: int, seed: int, reseed: bool) -> None:
    """Seed `name` unless it already holds this data set. Data seeded hours ago is moved to now."""
    from django.db import connection

    _create_database(name)
    print(f"database {name}:", flush=True)
    if not reseed:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('bench_seed') IS NOT NULL")
            if cursor.fetchone()[0]:
                cursor.execute("SELECT params, extract(epoch from now() - seeded_at) FROM bench_seed")
                row = cursor.fetchone()
                cursor.execute("SELECT (SELECT count(*) FROM accounts_user), (SELECT count(*) FROM feed_post), "
                               "(SELECT count(*) FROM feed_like)")
                counts = cursor.fetchone()
                params = row[0] if row and isinstance(row[0], dict) else json.loads(row[0]) if row else None
                if params == _params(users, posts, likes, seed) and counts == (users, posts, likes):
                    age = float(row[1])
                    print(f"  reusing the seeded data set ({users:,} users, {posts:,} posts, {likes:,} likes; "
                          f"seeded {age / 3600:.1f} h ago)", flush=True)
                    if age > 6 * 3600:
                        started = time.perf_counter()
                        cursor.execute("UPDATE feed_post SET created_at = created_at + %s",
                                       [timedelta(seconds=age)])
                        cursor.execute("UPDATE bench_seed SET seeded_at = now()")
                        print(f"  moved post times forward by {age / 3600:.1f} h "
                              f"({time.perf_counter() - started:.1f}s)", flush=True)
                    _refresh_scores()
                    return
                print(f"  existing data does not match (counts {counts}); seeding again", flush=True)
    seed_database(users=users, posts=posts, likes=likes, seed=seed)


# --- server and load ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, workers: int, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
                                     stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"uvicorn exited with {self.proc.returncode}: see {log}\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"uvicorn did not answer /healthz in 90s: see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        # The log lives in a temporary folder: show what went wrong before it goes.
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        errors = [line for line in lines if " ERROR " in line]
        if errors:
            print(f"server logged {len(errors)} errors; the last lines of its log:", *lines[-15:], sep="\n  ")


def wrk(server: Server, lines_file: Path, script: Path, *, connections: int, seconds: float) -> dict:
    """Closed loop: `connections` connections, each sending its next request as soon as the last returns."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency", "-s", str(script),
           server.base, "--", str(lines_file)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            stats = json.loads(line[len("BENCH-JSON "):])
            kinds = {"non-2xx": stats.pop("status_errors"), "timeout": stats.pop("timeouts"),
                     "socket": stats.pop("socket_errors")}
            # Capacity counts answers that worked: an error page is cheap and would flatter it.
            stats["rps"] = (stats["requests"] - kinds["non-2xx"]) / (stats["duration_us"] / 1e6)
            stats["error_kinds"] = {k: v for k, v in kinds.items() if v}
            stats["errors"] = sum(kinds.values())
            return stats
    raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


async def _http_get(reader, writer, request: bytes) -> int:
    """One keep-alive HTTP/1.1 exchange; returns the status. Reads Content-Length or chunked bodies."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


def open_loop(server: Server, pairs: list[tuple[str, str]], *, rate: float, seconds: float, seed: int = 1,
              timeout: float = 10.0) -> dict:
    """Constant arrival rate, as wrk2 does: request i is due at start + i / rate whatever the
    server's speed (a free keep-alive connection is taken, or a new one opened), and its latency
    counts from when it was due, so a slow response delays no later measurement."""
    import asyncio
    import random

    picker = random.Random(seed)
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {token}\r\n\r\n"
                .encode() for token, path in pairs]
    count = max(1, int(rate * seconds))

    async def run() -> dict:
        loop = asyncio.get_running_loop()
        idle: list = []
        latencies: list[float] = []
        errors: dict[str, int] = {}
        opened = 0

        def error(kind: str) -> None:
            errors[kind] = errors.get(kind, 0) + 1

        async def one(due: float) -> None:
            nonlocal opened
            while idle and loop.time() - idle[-1][2] > 2.0:  # uvicorn closes keep-alive sockets idle for 5 s
                idle.pop()[1].close()
            try:
                if idle:
                    conn = idle.pop()[:2]
                else:
                    opened += 1
                    conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                error(f"connect {type(exc).__name__}")
                return
            try:
                status = await asyncio.wait_for(_http_get(*conn, picker.choice(requests)), timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                error(type(exc).__name__)
                conn[1].close()
                return
            latencies.append(loop.time() - due)
            if status != 200:
                error(f"HTTP {status}")
            idle.append((*conn, loop.time()))

        start = loop.time() + 0.05
        tasks = []
        for i in range(count):
            due = start + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
        for _, writer, _ in idle:
            writer.close()
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] * 1e6 \
                if latencies else 0.0

        return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_us": pct(50), "p90_us": pct(90),
                "p99_us": pct(99), "max_us": pct(100), "errors": sum(errors.values()),
                "error_kinds": errors, "connections": opened}

    return asyncio.run(run())


def _fmt(stats: dict) -> str:
    return (f"{stats['rps']:7.1f} req/s  p50 {stats['p50_us'] / 1000:6.1f} ms  p90 {stats['p90_us'] / 1000:6.1f} ms  "
            f"p99 {stats['p99_us'] / 1000:6.1f} ms  max {stats['max_us'] / 1000:6.1f} ms  n={stats['requests']}"
            + (f"  ERRORS {stats['errors']} {stats.get('error_kinds', '')}" if stats["errors"] else ""))


def probe(server: Server, pairs: list[tuple[str, str]], count: int = 6) -> float:
    """Median latency of sequential requests (an idle server), in seconds."""
    import statistics

    times = []
    for token, path in pairs[:count]:
        request = urllib.request.Request(server.base + path, headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as exc:  # counted by the load runs; the server log tells why
            exc.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _write_lines(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{token} {url}\n" for token, url in pairs))
    return path


def scroll_cursors(tokens: dict[int, str], pages: int) -> list[tuple[str, str]]:
    """Snapshot cursors for pages 2..pages+1 of each user, made in-process in the shared Redis cache."""
    from accounts.models import User
    from feed.ranking import ranked_page

    pairs = []
    for user in User.objects.filter(pk__in=list(tokens)):
        page = ranked_page(viewer=user, kind="for_you", cursor=None, page_size=None)
        for _ in range(pages):
            if page.next_cursor is None:
                break
            pairs.append((tokens[user.pk], f"{FEED_PATHS['for_you']}?cursor={page.next_cursor}"))
            page = ranked_page(viewer=user, kind="for_you", cursor=page.next_cursor, page_size=None)
    return pairs


def card_page_cost(viewer_ids: list[int], *, pages: int = 300, size: int = 20, seed: int = 1) -> dict:
    """In this process, without HTTP: the time of reading a page of cards (`feed.selectors.cards`)
    and writing it out (`PostSerializer`) in each viewer's language, over `pages` pages of recent
    public posts, each page read twice in turn: as served (renditions read and chosen) and with
    `card_renditions` stubbed out (what a card cost before renditions). Less noisy than the load
    runs on a shared machine; also counts the cards that carried renditions and played one."""
    import random
    import statistics
    from unittest import mock

    from django.utils import translation

    from accounts.i18n import user_language
    from accounts.models import User
    from feed import selectors
    from feed.models import Post
    from feed.serializers import PostSerializer

    picker = random.Random(seed)
    recent = list(Post.objects.filter(status="active", visibility="public").order_by("-id")
                  .values_list("id", flat=True)[:5000])
    viewers = list(User.objects.filter(pk__in=viewer_ids))
    times: dict[str, list[float]] = {"with": [], "without": []}
    localised = played = 0

    def page(viewer, ids) -> tuple[float, list]:
        began = time.perf_counter()
        context = selectors.viewer_context(viewer=viewer)
        data = PostSerializer(selectors.cards(viewer=viewer, ids=ids, context=context), many=True, context={}).data
        return time.perf_counter() - began, data

    for i in range(pages):
        viewer = viewers[i % len(viewers)]
        start = picker.randrange(max(1, len(recent) - size))
        ids = recent[start:start + size]
        with translation.override(user_language(viewer)):
            for variant in (("with", "without") if i % 2 else ("without", "with")):
                if variant == "with":
                    elapsed, data = page(viewer, ids)
                    localised += sum(1 for card in data if card["renditions"])
                    played += sum(1 for card in data if card["video_url"] != card["original_video_url"])
                else:
                    with mock.patch.object(selectors, "card_renditions", lambda ids: {}):
                        elapsed, __ = page(viewer, ids)
                times[variant].append(elapsed)

    def stats(values: list[float]) -> tuple[float, float, float]:
        values = sorted(values)
        return (statistics.fmean(values) * 1000, values[len(values) // 2] * 1000,
                values[int(0.99 * (len(values) - 1))] * 1000)

    return {"with": stats(times["with"]), "without": stats(times["without"]), "cards": pages * size,
            "localised": localised, "played": played}


def mint_tokens(count: int, seed: int) -> dict[int, str]:
    import random

    from accounts.models import User
    from accounts.services import tokens_for_user

    ids = list(User.objects.filter(is_active=True, email__endswith="@bench.example.com")
               .order_by("pk").values_list("pk", flat=True))
    chosen = random.Random(seed).sample(ids, min(count, len(ids)))
    # A signed-in session each, as a phone has: access tokens carry its id and version.
    return {u.pk: tokens_for_user(u)["access"] for u in User.objects.filter(pk__in=chosen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reseed", action="store_true", help="seed both databases again")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--likes", type=int, default=2_000_000)
    parser.add_argument("--small-posts", type=int, default=10_000, help="posts of the comparison data set")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--workers", type=int, default=3, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for the capacity runs")
    parser.add_argument("--capacity-seconds", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=12, help="length of each constant-rate run")
    parser.add_argument("--load", type=float, default=0.70, help="fraction of capacity for the latency runs")
    parser.add_argument("--rounds", type=int, default=2,
                        help="capacity runs of each endpoint (their mean counts), and alternated 10k/1M runs")
    parser.add_argument("--conn-max-age", type=int, default=0, help="DATABASE_CONN_MAX_AGE of the API")
    parser.add_argument("--viewers", type=int, default=200, help="seeded users whose tokens rotate")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--renditions", type=float, default=0.0, metavar="SHARE",
                        help="share of the posts (0-1) localised into 1-4 other languages (feed.renditions)")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run through scripts/bench.sh (make bench-feed), or apt-get install wrk")
    full_url, small_url = _setup_env(args.conn_max_age)
    import django

    django.setup()
    from django.conf import settings

    full_name, small_name = full_url.rsplit("/", 1)[1], small_url.rsplit("/", 1)[1]
    small_likes = max(1, round(args.likes * args.small_posts / args.posts))
    wall = time.perf_counter()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run; "
          f"PostgreSQL on {settings.DATABASES['default']['HOST']}, Redis {settings.REDIS_URL}", flush=True)
    if not 0 <= args.renditions <= 1:
        raise SystemExit("--renditions is a share of the posts, from 0 to 1")
    ensure_seeded(name=small_name, users=args.users, posts=args.small_posts, likes=small_likes, seed=args.seed,
                  reseed=args.reseed)
    seed_renditions(share=args.renditions, seed=args.seed)
    ensure_seeded(name=full_name, users=args.users, posts=args.posts, likes=args.likes, seed=args.seed,
                  reseed=args.reseed)
    seed_renditions(share=args.renditions, seed=args.seed)
    print(f"data ready in {time.perf_counter() - wall:.0f}s", flush=True)
    if args.seed_only:
        return

    endpoints = [("me", "/api/v1/me (trivial)"), ("for_you", "/feed/for-you first page"),
                 ("scroll", "/feed/for-you scrolling"), ("following", "/feed/following")]
    labels = dict(endpoints)
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp:
        workdir = Path(tmp)
        script = workdir / "rotate.lua"
        script.write_text(WRK_LUA)
        tokens = mint_tokens(args.viewers, args.seed)
        cost = card_page_cost(list(tokens))
        print(f"card pages in-process ({cost['cards'] // 20} pages of 20, each read both ways in turn): "
              + "; ".join(f"{label} mean {m:.2f} ms, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
                          for label, (m, p50, p99) in (("as served", cost["with"]),
                                                       ("renditions not read", cost["without"])))
              + f"; {cost['localised']} of {cost['cards']} cards with renditions, {cost['played']} playing one "
                f"in the viewer's language", flush=True)
        pairs = {key: [(t, FEED_PATHS[key]) for t in tokens.values()] for key in ("me", "for_you", "following")}
        print(f"server: uvicorn config.asgi:application --workers {args.workers} --no-access-log "
              f"(DJANGO_ENV=production, DEBUG off, DATABASE_CONN_MAX_AGE={args.conn_max_age}, Redis cache); "
              f"tokens of {len(tokens)} seeded users", flush=True)
        print(f"capacity: wrk, 1 thread, up to {args.connections} connections, {args.capacity_seconds:g}s; latency: "
              f"constant arrival rate at {args.load * 100:.0f}% of capacity, {args.seconds:g}s, latency counted "
              f"from each request's due time", flush=True)

        results: dict[str, dict] = {}
        small: dict[str, dict] = {}
        # Both servers run from the start; the one not being measured sits idle.
        server = Server(full_url, args.workers, workdir / "uvicorn-full.log")
        small_server = Server(small_url, args.workers, workdir / "uvicorn-small.log")
        try:
            started = time.perf_counter()
            cursors = scroll_cursors(tokens, pages=4)
            pairs["scroll"] = pairs["for_you"] + cursors
            print(f"made {len(tokens)} for-you snapshots and {len(cursors)} next-page cursors for the scrolling "
                  f"mix ({len(pairs['for_you'])} first pages in {len(pairs['scroll'])} requests) in "
                  f"{time.perf_counter() - started:.1f}s", flush=True)
            files = {key: _write_lines(workdir / f"{key}.txt", value) for key, value in pairs.items()}
            # Capacity in rounds over all endpoints, each endpoint's figure the mean of its rounds:
            # this shared machine's speed drifts by tens of per cent within minutes, and a single
            # 10 s run of one endpoint caught a slow or a fast minute. The last round runs each
            # endpoint's 70 % load right after its capacity, in the same minute.
            for round_ in range(1, args.rounds + 1):
                for key, label in endpoints:
                    if round_ == 1:
                        alone = probe(server, pairs[key])
                        # Enough connections to keep every worker busy, few enough that a slow
                        # endpoint still completes requests within the run (Little's law).
                        connections = max(args.workers, min(args.connections, int(args.capacity_seconds / 4 / alone)))
                        wrk(server, files[key], script, connections=connections, seconds=3)  # warm every worker
                        results[key] = {"alone": alone, "connections": connections, "capacities": []}
                        print(f"{label:<25} alone       p50 {alone * 1000:6.1f} ms (sequential requests)", flush=True)
                    capacity = wrk(server, files[key], script, connections=results[key]["connections"],
                                   seconds=args.capacity_seconds)
                    results[key]["capacities"].append(capacity)
                    print(f"{label:<25} capacity  {_fmt(capacity)}  ({results[key]['connections']} connections, "
                          f"round {round_})", flush=True)
                    if round_ < args.rounds:
                        continue
                    runs = results[key]["capacities"]
                    rps = sum(run["rps"] for run in runs) / len(runs)
                    rate = max(rps * args.load, 0.2)
                    loaded = open_loop(server, pairs[key], rate=rate, seconds=args.seconds)
                    print(f"{label:<25} {args.load * 100:.0f}% load  {_fmt(loaded)}  (offered {rate:.1f} req/s, "
                          f"{loaded['connections']} connections)", flush=True)
                    results[key].update(rps=rps, rate=rate, loaded=loaded)
            # p50 at 10k posts against the full size, at the same rate, the two servers alternated
            # so that a drift of the machine's speed falls on both alike.
            for key in ("for_you", "following"):
                wrk(small_server, files[key], script, connections=2 * args.workers, seconds=3)
                small[key] = {"full": [results[key]["loaded"]], "small": []}
                for round_ in range(args.rounds):
                    small[key]["small"].append(open_loop(small_server, pairs[key], rate=results[key]["rate"],
                                                         seconds=args.seconds))
                    print(f"{labels[key]:<25} {args.small_posts:,} posts, same rate  {_fmt(small[key]['small'][-1])}",
                          flush=True)
                    if round_ + 1 < args.rounds:
                        small[key]["full"].append(open_loop(server, pairs[key], rate=results[key]["rate"],
                                                            seconds=args.seconds))
                        print(f"{labels[key]:<25} {args.posts:,} posts, same rate  {_fmt(small[key]['full'][-1])}",
                              flush=True)
                small[key]["alone"] = (probe(small_server, pairs[key], count=40), probe(server, pairs[key], count=40))
                print(f"{labels[key]:<25} sequential p50 {small[key]['alone'][0] * 1000:.1f} ms at {args.small_posts:,}"
                      f" posts, {small[key]['alone'][1] * 1000:.1f} ms at {args.posts:,}", flush=True)
        finally:
            server.stop()
            small_server.stop()

    print(f"load average {os.getloadavg()[0]:.2f} after the run", flush=True)
    _summary(results, small, labels, args)
    print(f"total {time.perf_counter() - wall:.0f}s", flush=True)


def _summary(results: dict, small: dict, labels: dict, args) -> None:
    trivial = results["me"]["rps"]
    print()
    print(f"capacity, mean of {args.rounds} rounds (req/s): " + "; ".join(
        f"{labels[key].split(' (')[0]} " + " / ".join(f"{run['rps']:.1f}" for run in r["capacities"])
        for key, r in results.items()))
    print(f"summary: {args.posts:,} posts ({args.renditions:.0%} with renditions), {args.users:,} users, "
          f"{args.likes:,} likes; {args.workers} uvicorn workers "
          f"on {os.cpu_count()} cores shared with PostgreSQL, Redis and the load generator")
    print(f"{'endpoint':<25} {'capacity req/s':>14} {'ratio':>6} | {'at ' + format(args.load, '.0%') + ': req/s':>13} "
          f"{'p50 ms':>7} {'p99 ms':>7}")
    for key, r in results.items():
        loaded = r["loaded"]
        errors = sum(run["errors"] for run in r["capacities"]) + loaded["errors"]
        print(f"{labels[key]:<25} {r['rps']:>14.1f} {r['rps'] / trivial:>6.2f} | {loaded['rps']:>13.1f} "
              f"{loaded['p50_us'] / 1000:>7.1f} {loaded['p99_us'] / 1000:>7.1f}"
              + (f"  ({errors} errors)" if errors else ""))
    print("targets: ratio (feed capacity / trivial capacity) >= 0.30; p99 <= 150 ms at 70 % of capacity")
    print(f"p50 at {args.small_posts:,} posts -> {args.posts:,} posts (target <= 1.5x); at the same request rate, "
          f"mean of {args.rounds} alternated runs each; and of 40 sequential requests:")
    for key, runs in small.items():
        a = sum(run["p50_us"] for run in runs["small"]) / len(runs["small"]) / 1000
        b = sum(run["p50_us"] for run in runs["full"]) / len(runs["full"]) / 1000
        sa, sb = (t * 1000 for t in runs["alone"])
        print(f"  {labels[key]:<25} {a:7.1f} ms -> {b:7.1f} ms  ({b / a if a else float('nan'):.2f}x);"
              f"  sequential {sa:6.1f} ms -> {sb:6.1f} ms  ({sb / sa if sa else float('nan'):.2f}x)")


if __name__ == "__main__":
    main()
