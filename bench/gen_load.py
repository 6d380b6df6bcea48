"""Load benchmarks of the GPU scheduler, run from bench/generation.py (`--only fairness|scaleout|eta|kill`).

A stub backend (`stub`, registered when this module is imported, also by the workers through
`celery worker --include bench.gen_load`) renders in a fixed time, so the figures measure the
scheduler, not the GPU. It only uses what every version of the code has (generation_submit,
the job rows, the sweeper), so the same run measures the code before and after a change.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from generation.backends import BACKENDS, RenderOutput

BACKENDS["stub"] = "bench.gen_load.StubBackend"
ROOT = Path(__file__).resolve().parent.parent
SHAPE_FACTOR = {480: 1.0, 720: 1.5}  # stub render time per short side, times duration / 4


class StubBackend:
    name = "stub"

    def check(self, params):
        return params

    def render(self, spec, workdir, progress):
        base = float(os.environ.get("BENCH_STUB_SECONDS", "1"))
        total = base * spec.duration_seconds / 4 * SHAPE_FACTOR.get(min(spec.width, spec.height), 1.0)
        end = time.monotonic() + total
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(0.25, left))
            progress(min(0.99, 1 - max(0.0, end - time.monotonic()) / total))
        stub = Path(os.environ["BENCH_STUB_DIR"])
        video, poster = workdir / "video.mp4", workdir / "poster.jpg"
        shutil.copy(stub / "video.mp4", video)
        shutil.copy(stub / "poster.jpg", poster)
        return RenderOutput(video_path=video, poster_path=poster)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def make_stub_clip(workdir: Path) -> Path:
    from generation.backends.base import RenderSpec
    from generation.backends.preview import PreviewBackend

    out = workdir / "stub"
    out.mkdir(exist_ok=True)
    spec = RenderSpec(job_id="stub", kind="text_to_video", prompt="stub", duration_seconds=4, width=480, height=480,
                      fps=2, seed=1)
    result = PreviewBackend().render(spec, out, lambda fraction: None)
    shutil.move(result.video_path, out / "video.mp4")
    shutil.move(result.poster_path, out / "poster.jpg")
    os.environ["BENCH_STUB_DIR"] = str(out)
    return out


class Workers:
    """N real Celery worker processes on the gpu queue, each one process (prefork, concurrency 1)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env, self.procs = workdir, env, []

    def start(self, n: int = 1) -> None:
        new = []
        for _ in range(n):
            name = f"bench-{uuid.uuid4().hex[:6]}"
            log = self.workdir / f"{name}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu", "-c", "1", "--pool",
                 "prefork", "--without-mingle", "--without-gossip", "--include", "bench.gen_load",
                 "--hostname", f"{name}@%h", "--loglevel", "INFO"],
                cwd=ROOT, env={**os.environ, "LOG_LEVEL": "INFO", **self.env}, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                start_new_session=True)
            new.append((proc, log))
        # Tracked before they are ready: a worker left running would take the next run's messages.
        self.procs += [p for p, _ in new]
        deadline = time.monotonic() + 90
        for proc, log in new:
            while b" ready." not in log.read_bytes():
                if time.monotonic() > deadline or proc.poll() is not None:
                    self.stop()
                    raise SystemExit(f"worker did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def kill_one(self) -> None:
        proc = self.procs.pop(random.randrange(len(self.procs)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # nothing to finish: the rows are deleted next
                proc.wait(timeout=10)
        self.procs = []


def _purge() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge("gpu")
        except Exception:  # noqa: BLE001 - a fresh broker has no queue yet
            pass


def users(prefix: str, n: int):
    from accounts.models import User
    from billing import services as ledger

    out = []
    for i in range(n):
        user, _ = User.objects.get_or_create(email=f"{prefix}-{i}@example.com",
                                             defaults={"handle": f"{prefix.replace('-', '_')}_{i}"})
        ledger.credits_grant(user_id=user.pk, amount=100_000, key=f"bench:{prefix}:{i}:{time.time()}",
                             reason="benchmark")
        out.append(user)
    return out


DEADLOCKS = [0]  # submits PostgreSQL aborted as deadlocked (a user would have had a 500), retried here


def submit(user, *, duration: int = 4, size: str = "480x854"):
    from django.db import OperationalError

    from generation import services

    for _ in range(10):
        try:
            job, _ = services.generation_submit(user=user, kind="text_to_video", prompt="bench",
                                                duration_seconds=duration, size=size)
            return job
        except OperationalError as exc:
            if "deadlock" not in str(exc):
                raise
            DEADLOCKS[0] += 1
    raise SystemExit("submit deadlocked 10 times in a row")


def _clean(user_list) -> None:
    from generation.models import GenerationJob

    _purge()
    GenerationJob.objects.filter(user__in=user_list).delete()


def _stub_settings(render: float) -> None:
    from django.conf import settings

    settings.GENERATION_BACKEND = "stub"
    os.environ["BENCH_STUB_SECONDS"] = str(render)
    for name, value in (("GENERATION_FREE_MAX_QUEUED_JOBS", 100_000), ("GENERATION_SHED_FREE_AFTER_MINUTES", 0),
                        ("GENERATION_SHED_ALL_AFTER_MINUTES", 0)):
        setattr(settings, name, value)  # settings of the code after the change; unknown before it


def _started(jobs) -> dict:
    from generation.models import GenerationJob

    return dict(GenerationJob.objects.filter(pk__in=[j.pk for j in jobs], started_at__isnull=False)
                .values_list("pk", "started_at"))


def bench_fairness(workdir: Path, *, render: float, workers: int, flood: int, light: int, stagger: float) -> None:
    _stub_settings(render)
    flooder, *lights = users("bench-fair", light + 1)
    pool = Workers(workdir, {"GENERATION_BACKEND": "stub", "GENERATION_FREE_CONCURRENT_JOBS": str(workers)})
    _clean([flooder, *lights])
    pool.start(workers)
    try:
        flood_jobs, submit_ms = [], []
        for _ in range(flood):
            t = time.perf_counter()
            flood_jobs.append(submit(flooder))
            submit_ms.append((time.perf_counter() - t) * 1000)
        while len(_started(flood_jobs)) < workers:
            time.sleep(0.05)
        light_jobs = []
        for user in lights:
            light_jobs.append(submit(user))
            time.sleep(stagger)
        deadline = time.monotonic() + flood * render / workers + 120
        while len(started := _started(light_jobs)) < len(light_jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pool.stop()
    from django.utils import timezone

    now = timezone.now()
    # A job that never started counts with the time it had waited when the run gave up (a lower bound).
    waits = [(started.get(j.pk, now) - j.created_at).total_seconds() for j in light_jobs]
    never = len(light_jobs) - len(started)
    _clean([flooder, *lights])
    arrival = f"one every {stagger:g} s" if stagger else "all at once"
    bound = ">= " if never else ""
    print(f"fairness: {workers} workers, render {render:g} s, {flood} flood jobs, {light} light users ({arrival}): "
          f"light wait p50 {pct(waits, 50):.2f} s, p99 {bound}{pct(waits, 99):.2f} s = {bound}"
          f"{pct(waits, 99) / render:.2f} render times, max {bound}{max(waits):.2f} s; {never} never started "
          f"(run ended after {flood * render / workers + 120:.0f} s)")
    span = (light_jobs[-1].created_at - light_jobs[0].created_at).total_seconds()
    print(f"  light users arrived over {span:.2f} s; a flood submit took p50 {pct(submit_ms, 50):.0f} ms, "
          f"p99 {pct(submit_ms, 99):.0f} ms (in-process service call, queue growing to {flood})")
    print("  each light wait (s): " + " ".join(f"{w:.1f}{'' if j.pk in started else '+'}"
                                               for w, j in zip(waits, light_jobs)))


def bench_scaleout(workdir: Path, *, render: float, counts: list[int], per_worker: int) -> None:
    from generation.models import GenerationJob

    _stub_settings(render)
    people = users("bench-scale", 8)
    broker = os.environ.get("CELERY_BROKER_URL", "").split("@")[-1] or os.environ.get("REDIS_URL", "")
    single = None
    for n in counts:
        _clean(people)
        pool = Workers(workdir, {"GENERATION_BACKEND": "stub", "GENERATION_FREE_CONCURRENT_JOBS": "4"})
        pool.start(n)
        try:
            jobs = [submit(people[i % len(people)]) for i in range(n * per_worker)]
            ids = [j.pk for j in jobs]
            deadline = time.monotonic() + per_worker * render * 4 + 60
            while (GenerationJob.objects.filter(pk__in=ids, status="succeeded").count() < len(ids)
                   and time.monotonic() < deadline):
                time.sleep(0.1)
        finally:
            pool.stop()
        rows = GenerationJob.objects.filter(pk__in=ids, status="succeeded").values_list("started_at", "finished_at")
        first, last = min(r[0] for r in rows), max(r[1] for r in rows)
        rate = len(rows) / (last - first).total_seconds()
        single = single or rate
        print(f"scale-out ({broker}): {n} worker(s), {len(rows)}/{len(ids)} jobs of {render:g} s: {rate:.2f} jobs/s "
              f"= {rate / (n / render):.2f} of ideal, {rate / single:.2f}x one worker (target >= {0.9 * n:.1f}x)")
    _clean(people)


def bench_eta(workdir: Path, *, render: float, workers: int, jobs: int) -> None:
    from generation.models import GenerationJob
    from generation.selectors import job_public_state

    _stub_settings(render)
    people = users("bench-eta", 6)
    shapes = [(4, "480x854"), (8, "480x854"), (4, "720x1280")]
    _clean(people)
    pool = Workers(workdir, {"GENERATION_BACKEND": "stub", "GENERATION_FREE_CONCURRENT_JOBS": "2"})
    pool.start(workers)
    rng = random.Random(7)
    try:
        # Warm-up: two renders of each shape, so measured averages exist (as in any running system).
        warm = [submit(people[0], duration=d, size=s) for d, s in shapes for _ in range(2)]
        while GenerationJob.objects.filter(pk__in=[j.pk for j in warm], status="succeeded").count() < len(warm):
            time.sleep(0.1)
        predicted = {}
        for _ in range(jobs):
            duration, size = rng.choice(shapes)
            job = submit(rng.choice(people), duration=duration, size=size)
            predicted[job.pk] = (job_public_state(GenerationJob.objects.get(pk=job.pk))["eta_seconds"], job.created_at)
            time.sleep(rng.expovariate(1 / (render * 0.4)))
        deadline = time.monotonic() + jobs * render * 2 + 60
        while len(started := _started([GenerationJob(pk=k) for k in predicted])) < jobs and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pool.stop()
    errors = [abs(eta - (started[k] - created).total_seconds()) for k, (eta, created) in predicted.items()
              if k in started and eta is not None]
    _clean(people)
    print(f"ETA error (|predicted - actual| start, {len(errors)} jobs, {workers} workers, 6 users, 3 shapes, "
          f"stub {render:g}-{render * 2:g} s): p50 {pct(errors, 50):.2f} s, p90 {pct(errors, 90):.2f} s, "
          f"mean {statistics.fmean(errors):.2f} s")


def bench_kill(workdir: Path, *, render: float, trials: int, heartbeat: int) -> None:
    """kill -9 one of two workers mid-run, then start a fresh one (a supervisor would). The flooder
    is at a running limit of 1, so the code before the change has deferred retries in flight."""
    from django.conf import settings
    from django.db.models import Count

    from billing.models import CreditEntry
    from generation import services
    from generation.models import TERMINAL, GenerationJob

    _stub_settings(render)
    settings.GENERATION_HEARTBEAT_TIMEOUT = heartbeat
    flooder, *lights = users("bench-kill", 7)
    env = {"GENERATION_BACKEND": "stub", "GENERATION_FREE_CONCURRENT_JOBS": "1",
           "GENERATION_HEARTBEAT_TIMEOUT": str(heartbeat)}
    lost = double = stalled = stalled_trials = 0
    drains = []
    for trial in range(trials):
        _clean([flooder, *lights])
        pool = Workers(workdir, env)
        pool.start(2)
        try:
            jobs = [submit(flooder) for _ in range(12)] + [submit(u) for u in lights for _ in range(2)]
            ids = [j.pk for j in jobs]
            t0 = time.monotonic()
            while GenerationJob.objects.filter(pk__in=ids, status__in=TERMINAL).count() < len(ids) // 3:
                time.sleep(0.05)
            pool.kill_one()
            pool.start(1)
            # Ideal: the flooder's 12 renders one after another; the kill costs one heartbeat
            # timeout plus one render; the sweeper here runs every second (beat's stand-in).
            deadline = t0 + 12 * render + heartbeat + render + 10
            while time.monotonic() < deadline:
                services.jobs_sweep()
                if GenerationJob.objects.filter(pk__in=ids, status__in=TERMINAL).count() == len(ids):
                    break
                time.sleep(1)
            drains.append(time.monotonic() - t0)
        finally:
            pool.stop()
        rows = GenerationJob.objects.filter(pk__in=ids)
        left = rows.exclude(status__in=TERMINAL).count()
        stalled += left
        stalled_trials += bool(left)
        lost += rows.filter(status="failed").count() + (len(ids) - rows.count())
        refs = [f"generation:{pk}" for pk in ids]
        settles = (CreditEntry.objects.filter(reference__in=refs, kind__in=["capture", "release"])
                   .values("reference").annotate(n=Count("pk")))
        double += sum(1 for s in settles if s["n"] > 1)
        print(f"  kill trial {trial + 1}: {len(ids) - left}/{len(ids)} done in {drains[-1]:.1f} s, {left} stalled")
    _clean([flooder, *lights])
    print(f"kill -9 a worker mid-run ({trials} trials, {12 + 2 * len(lights)} jobs each, heartbeat timeout {heartbeat} s, render "
          f"{render:g} s): {stalled_trials} trials with a stall ({stalled} jobs not done by the deadline), "
          f"{lost} jobs lost or failed, {double} charged or released twice; drain p50 {pct(drains, 50):.1f} s, "
          f"max {max(drains):.1f} s")
