"""Generation benchmark: prints figures, asserts nothing.

    make bench-generation            (or: .venv/bin/python bench/generation.py)

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL; defaults are the test
ones) and uses its own database, `<name>_bench`, which it creates and migrates.

1. commit -> task-start latency over N jobs on the Redis broker, with a real
   Celery worker process (tiny renders, submitted one at a time, so the figure
   is dispatch latency, not queueing behind other renders);
2. state change -> websocket receive latency with 500 open sockets on a real
   uvicorn server (one socket per user; a cancel commits a state change and the
   event travels through the Redis channel layer);
   the same on the embedded default: the server runs without REDIS_URL (in-memory channel
   layer), so the event reaches the socket by the server tailing the event table;
3. preview render speed: video seconds rendered per wall second, 480p and 720p;
4. events written per second by the primitive (accounts.events.event_send_on_commit: counter
   upsert + event row + commit), one thread, and 4 threads on 4 users at once;
5. the scheduler under load (bench/gen_load.py, a stub backend of fixed render time), each
   only when asked for with --only: `fairness` (1 user floods, light users' waits), `scaleout`
   (1/2/4 worker processes, on the broker of --broker, default Redis), `eta` (ETA error over a
   mixed run), `kill` (kill -9 a worker mid-run, --trials times).
   The websocket run also prints the server's resident memory per open socket.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _report(name: str, values_ms: list[float]) -> None:
    print(f"{name}: n={len(values_ms)} p50={_pct(values_ms, 50):.1f} ms p99={_pct(values_ms, 99):.1f} ms "
          f"mean={statistics.fmean(values_ms):.1f} ms")


def _setup_env(media: str) -> None:
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/clipsocial")
    os.environ["DATABASE_URL"] = base_db.rstrip("/") + "_bench"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ["DJANGO_ENV"] = "test"
    os.environ["MEDIA_ROOT"] = media
    os.environ["THROTTLE_AUTH_RATE"] = "100000/min"
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


def _start(cmd: list[str], log: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(extra_env or {})}, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def bench_dispatch(jobs: int, workdir: Path) -> None:
    from django.utils import timezone

    from accounts.models import User
    from billing import services as ledger
    from generation import services
    from generation.models import GenerationJob
    from tests.worker import purge_queues

    purge_queues()
    user, _ = User.objects.get_or_create(email="bench-dispatch@example.com", defaults={"handle": "bench_dispatch"})
    ledger.credits_grant(user_id=user.pk, amount=jobs * 10, key=f"bench:{time.time()}", reason="benchmark")
    worker = _start([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu", "-c", "1",
                     "--without-mingle", "--without-gossip", "--loglevel", "WARNING"], workdir / "worker.log",
                    {"GENERATION_FPS": "1"})
    latencies = []
    try:
        # Warm-up job: the first one pays for worker start-up and imports.
        warm, _ = services.generation_submit(user=user, kind="text_to_video", prompt="warm up", duration_seconds=4,
                                             size="480x480")
        _wait_started(warm.pk, timeout=120)
        for i in range(jobs):
            job, _ = services.generation_submit(user=user, kind="text_to_video", prompt=f"bench {i}",
                                                duration_seconds=4, size="480x480")
            committed = timezone.now()  # generation_submit commits before returning
            started = _wait_started(job.pk, timeout=60)
            latencies.append((started - committed).total_seconds() * 1000)
            _wait_terminal(job.pk)
    finally:
        _stop(worker)
        GenerationJob.objects.filter(user=user).delete()
    _report(f"commit -> task start (Redis broker, {jobs} jobs)", latencies)


def _wait_started(job_id, timeout: float):
    from generation.models import GenerationJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = GenerationJob.objects.filter(pk=job_id).values_list("started_at", flat=True).first()
        if started:
            return started
        time.sleep(0.002)
    raise SystemExit(f"job {job_id} did not start in {timeout}s")


def _wait_terminal(job_id) -> None:
    from generation.models import TERMINAL, GenerationJob

    while GenerationJob.objects.filter(pk=job_id).values_list("status", flat=True).first() not in TERMINAL:
        time.sleep(0.01)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_websocket(sockets: int, events: int, workdir: Path, *, embedded: bool = False) -> None:
    import websockets
    from asgiref.sync import sync_to_async

    from accounts.models import User
    from accounts.services import tokens_for_user
    from generation import services
    from generation.models import GenerationJob

    users = []
    for i in range(sockets):
        user, _ = User.objects.get_or_create(email=f"bench-ws-{i}@example.com", defaults={"handle": f"bench_ws_{i}"})
        users.append(user)
    tokens = [tokens_for_user(u)["access"] for u in users]
    port = _free_port()
    server = _start([sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port",
                     str(port), "--ws", "websockets", "--lifespan", "off", "--log-level", "warning"],
                    workdir / "uvicorn.log", {"REDIS_URL": ""} if embedded else None)

    async def run() -> list[float]:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.2)
        conns = []
        base_rss = 0
        for index, token in enumerate(tokens):
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}", max_queue=None,
                                          open_timeout=60)
            await ws.recv()  # hello
            conns.append(ws)
            if index == 9:
                base_rss = _rss_kb(server.pid)  # after the first sockets: imports and pools are warm
        rss = _rss_kb(server.pid)
        per = (rss - base_rss) * 1024 / max(1, len(conns) - 10)
        print(f"websocket: {len(conns)} sockets open; server RSS {rss / 1024:.0f} MiB, "
              f"{per / 1024:.1f} KiB per open socket (sockets 11-{len(conns)})")
        latencies = []
        submit = sync_to_async(services.generation_submit, thread_sensitive=True)
        cancel = sync_to_async(services.generation_cancel, thread_sensitive=True)
        for i in range(events):
            index = (i * 7919) % len(users)
            user, ws = users[index], conns[index]
            job, _ = await submit(user=user, kind="text_to_video", prompt="ws bench", duration_seconds=4,
                                  size="480x480")
            await _drain_until(ws, str(job.pk), "queued")
            start = time.perf_counter()
            await cancel(user=user, job_id=job.pk)  # a committed state change
            await _drain_until(ws, str(job.pk), "canceled")
            latencies.append((time.perf_counter() - start) * 1000)
        for ws in conns:
            await ws.close()
        return latencies

    try:
        latencies = asyncio.run(run())
    finally:
        _stop(server)
        GenerationJob.objects.filter(user__in=users).delete()
    layer = "embedded: in-memory layer + table tailing" if embedded else "Redis channel layer"
    _report(f"state change -> websocket receive ({sockets} open sockets, {events} events, {layer})", latencies)


def bench_event_writes(count: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from accounts.events import event_send_on_commit
    from accounts.models import Event, User

    users = [User.objects.get_or_create(email=f"bench-ev-{i}@example.com", defaults={"handle": f"bench_ev_{i}"})[0]
             for i in range(4)]

    def write(user_id: int, n: int) -> None:
        try:
            for i in range(n):
                event_send_on_commit(user_id, "bench.event", {"i": i})
        finally:
            connection.close()

    start = time.perf_counter()
    write(users[0].pk, count)
    single = count / (time.perf_counter() - start)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda u: write(u.pk, count // 4), users))
    parallel = (count // 4) * 4 / (time.perf_counter() - start)
    Event.objects.filter(user__in=users).delete()
    print(f"events written by the primitive: {single:.0f}/s on one thread, {parallel:.0f}/s on 4 threads "
          f"(4 users, {count} events each run)")


async def _drain_until(ws, job_id: str, status: str) -> None:
    import json

    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if event.get("type") == "generation.updated" and event["job"]["id"] == job_id \
                and event["job"]["status"] == status:
            return


def bench_preview(workdir: Path) -> None:
    from generation.backends.base import RenderSpec
    from generation.backends.media import generator_metadata
    from generation.backends.preview import PreviewBackend

    for label, (w, h) in (("480p", (480, 854)), ("720p", (720, 1280))):
        spec = RenderSpec(job_id="bench", kind="text_to_video", prompt="a lighthouse in a storm, waves crashing",
                          duration_seconds=4, width=w, height=h, fps=24, seed=1, watermark_text="@bench")
        spec = RenderSpec(**{**spec.__dict__, "metadata": generator_metadata(spec, "preview")})
        runs = []
        for i in range(3):
            out = workdir / f"preview-{label}-{i}"
            out.mkdir()
            start = time.perf_counter()
            PreviewBackend().render(spec, out, lambda fraction: None)
            runs.append(time.perf_counter() - start)
        best = min(runs)
        print(f"preview {label} ({w}x{h}, 4 s at 24 fps): {best:.2f} s wall -> "
              f"{4 / best:.1f} video seconds per wall second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--only", choices=["dispatch", "websocket", "embedded", "preview", "events", "fairness",
                                           "scaleout", "eta", "kill"])
    parser.add_argument("--render", type=float, default=1.0, help="stub render time, seconds (scheduler runs)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (fairness, eta)")
    parser.add_argument("--stagger", type=float, default=None, help="fairness: seconds between light users "
                        "(default: both half a render time and all at once)")
    parser.add_argument("--trials", type=int, default=20, help="kill: trials")
    parser.add_argument("--broker", default="", help="scaleout: CELERY_BROKER_URL (default: REDIS_URL)")
    args = parser.parse_args()
    if args.broker:
        os.environ["CELERY_BROKER_URL"] = args.broker
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        workdir = Path(tmp)
        _setup_env(str(workdir / "media"))
        import django

        django.setup()
        _create_database()
        print(f"machine: {os.cpu_count()} cores; broker {os.environ['REDIS_URL']}")
        if args.only in (None, "preview"):
            bench_preview(workdir)
        if args.only in (None, "dispatch"):
            bench_dispatch(args.jobs, workdir)
        if args.only in (None, "websocket"):
            bench_websocket(args.sockets, args.events, workdir)
        if args.only in (None, "embedded"):
            bench_websocket(args.sockets, args.events, workdir, embedded=True)
        if args.only in (None, "events"):
            bench_event_writes(2000)
        if args.only in ("fairness", "scaleout", "eta", "kill"):
            _scheduler(args, workdir)


def _scheduler(args, workdir: Path) -> None:
    from bench import gen_load

    gen_load.make_stub_clip(workdir)
    if args.only == "fairness":
        for stagger in ([args.stagger] if args.stagger is not None else [args.render / 2, 0.0]):
            gen_load.bench_fairness(workdir, render=args.render, workers=args.workers, flood=200, light=20,
                                    stagger=stagger)
    elif args.only == "scaleout":
        gen_load.bench_scaleout(workdir, render=args.render, counts=[1, 2, 4], per_worker=15)
    elif args.only == "eta":
        gen_load.bench_eta(workdir, render=args.render, workers=min(args.workers, 2), jobs=60)
    elif args.only == "kill":
        gen_load.bench_kill(workdir, render=args.render, trials=args.trials, heartbeat=5)
    print(f"submits aborted by a deadlock (retried): {gen_load.DEADLOCKS[0]}")


if __name__ == "__main__":
    main()
