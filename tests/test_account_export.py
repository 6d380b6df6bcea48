"""Account export end to end: asking (once per interval), the build task writing every app's
section and the user's media into a ZIP, the ready notification after commit, the download link
(its owner only, until it expires) and the sweep that deletes expired files. Real PostgreSQL,
Redis and storage (local files; S3 against the local server)."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from accounts.exports import registry
from accounts.exports.models import AccountExport
from accounts.exports.registry import Section, account_export_section_register
from accounts.exports.selectors import account_export_download_token
from accounts.exports.services import (
    BUILD_TASK,
    MAX_ATTEMPTS,
    account_export_build,
    account_export_request,
    account_exports_sweep,
)
from accounts.models import Follow, Notification
from accounts.notifications.services import PUSH_TASK
from accounts.tasks import build_account_export
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry
from billing.services.ledger import credits_grant
from creators.models import Payout, Reward, Submission
from creators.tests.factories import CampaignFactory, EnrolmentFactory, publish_task
from feed.models import Comment, Like
from feed.tests.factories import PostFactory, SucceededJobFactory
from tests.concurrency import at_once
from tests.rows import table_rows

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/export"
BASE = "https://api.example.test"
SECTIONS = ["campaign_rewards", "campaign_submissions", "comments", "credit_history", "followers", "follows",
            "generations", "likes", "payouts", "posts", "profile"]
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
POSTER = b"\xff\xd8\xff\xe0JFIF" + bytes(range(200)) * 5
AVATAR = b"\xff\xd8\xff\xe0avatar" + bytes(range(100))
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PUBLIC_BASE_URL = BASE + "/"


def _iso(value: datetime | None) -> str | None:
    return DjangoJSONEncoder().default(value) if value is not None else None


def _api_time(value: datetime) -> str:
    """A time as the API writes it (DRF: microseconds); the archive's JSON has milliseconds."""
    return value.isoformat().replace("+00:00", "Z")


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _built(user, sent_tasks) -> AccountExport:
    """Ask for an export and run the build its task message names, as a worker would."""
    export = account_export_request(user=user)
    assert account_export_build(export_id=export.pk) == "ready"
    export.refresh_from_db()
    return export


def _archive(export: AccountExport) -> zipfile.ZipFile:
    with default_storage.open(export.file.name, "rb") as stored:
        return zipfile.ZipFile(io.BytesIO(stored.read()))


def _json(archive: zipfile.ZipFile, name: str):
    return json.loads(archive.read(name))


# --- Asking --------------------------------------------------------------------------------


def test_asking_starts_an_export_whose_task_is_sent_after_commit(auth_api, sent_tasks,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = auth_api.post(URL)
        assert sent_tasks == []  # not before the row is committed

    for callback in callbacks:
        callback()
    assert response.status_code == 202
    export = AccountExport.objects.get(user=auth_api.user)
    body = response.json()
    assert body == {"id": str(export.pk), "status": "pending", "created_at": _api_time(export.created_at),
                    "finished_at": None, "expires_at": None, "size_bytes": None, "download_url": None,
                    "next_allowed_at": _api_time(export.created_at + timedelta(days=7))}
    assert sent_tasks == [(BUILD_TASK, [str(export.pk)], {"queue": "default"})]


def test_a_second_export_within_the_interval_is_429_and_changes_nothing(auth_api, sent_tasks,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        auth_api.post(URL)
    first = AccountExport.objects.get()
    before, sent_before = table_rows(), list(sent_tasks)

    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api.post(URL)

    assert response.status_code == 429
    error = response.json()["error"]
    next_allowed = first.created_at + timedelta(days=7)
    assert error["code"] == "export_too_soon"
    assert error["next_allowed_at"] == _api_time(next_allowed)
    assert 7 * 24 * 3600 - 5 <= error["retry_after"] <= 7 * 24 * 3600
    assert response["Retry-After"] == str(error["retry_after"])
    assert table_rows() == before
    assert sent_tasks == sent_before
    assert list(AccountExport.objects.values_list("pk", "status")) == [(first.pk, "pending")]


def test_the_interval_counts_from_the_last_export_that_did_not_fail(auth_api, sent_tasks, settings):
    settings.ACCOUNT_EXPORT_MIN_INTERVAL_DAYS = 2
    user = auth_api.user
    old = AccountExport.objects.create(user=user, status="expired", created_at=timezone.now() - timedelta(days=2))
    AccountExport.objects.create(user=user, status="failed", created_at=timezone.now() - timedelta(hours=1))

    response = auth_api.post(URL)

    assert response.status_code == 202
    assert AccountExport.objects.filter(user=user).exclude(pk=old.pk).count() == 2
    assert auth_api.post(URL).json()["error"]["code"] == "export_too_soon"


@pytest.mark.django_db(transaction=True)
def test_ten_asks_at_once_make_one_export(sent_tasks):
    from accounts.exports.services import ExportTooSoon

    user = UserFactory()

    def ask():
        try:
            return account_export_request(user=user).pk
        except ExportTooSoon:
            return None

    results = at_once([ask] * 10)

    assert len([r for r in results if r is not None]) == 1
    assert AccountExport.objects.filter(user=user).count() == 1
    assert [name for name, _, _ in sent_tasks] == [BUILD_TASK]


def test_the_interval_is_per_user(client_for, sent_tasks):
    AccountExport.objects.create(user=UserFactory())
    assert client_for(UserFactory()).post(URL).status_code == 202


def test_signed_out_asking_is_401_and_writes_nothing(api):
    before = table_rows()
    assert api.post(URL).status_code == 401
    assert api.get(URL).status_code == 401
    assert table_rows() == before


# --- The archive ---------------------------------------------------------------------------


def _seeded_user():
    """A user with something in every section, and another user whose data must stay out."""
    user = UserFactory(handle="ana", email="ana@example.com", display_name="Ana", bio="boats", locale="es-MX",
                       country="MX", birth_year=1991, created_at=T0)
    user.avatar = default_storage.save("avatars/2026/01/ana.jpg", ContentFile(AVATAR))
    user.save(update_fields=["avatar"])
    other = UserFactory(handle="bo")
    Follow.objects.create(follower=user, followee=other, created_at=_at(1))
    Follow.objects.create(follower=other, followee=user, created_at=_at(2))

    video = default_storage.save("generations/ana/1/video.mp4", ContentFile(VIDEO))
    poster = default_storage.save("generations/ana/1/poster.jpg", ContentFile(POSTER))
    job = SucceededJobFactory(user=user, prompt="a paper boat at dusk", style="film", seed=42, video=video,
                              poster=poster, created_at=_at(3), finished_at=_at(4), result_duration=4.0)
    failed = SucceededJobFactory(user=user, status="failed", prompt="a storm", video="", poster="",
                                 error_code="render_failed", created_at=_at(5), finished_at=_at(6),
                                 result_duration=None)
    post = PostFactory(author=user, generation=job, caption="boat #sea", hashtags=["sea"], created_at=_at(7))
    theirs = PostFactory(author=other, created_at=_at(8))
    comment = Comment.objects.create(post=theirs, author=user, body="lovely", created_at=_at(9))
    Comment.objects.create(post=post, author=other, body="not ana's")
    Like.objects.create(user=user, post=theirs, created_at=_at(10))
    Like.objects.create(user=other, post=post, created_at=_at(11))
    entry = credits_grant(user_id=user.pk, amount=25, key="export-test-grant", reason="promo",
                          reference="promo:1")
    credits_grant(user_id=other.pk, amount=7, key="export-test-other")

    campaign = CampaignFactory()
    task = publish_task(campaign, reward=50)
    enrolment = EnrolmentFactory(campaign=campaign, user=user)
    submission = Submission.objects.create(campaign=campaign, enrolment=enrolment, user=user, post=post,
                                           status=Submission.Status.ACCEPTED, submitted_at=_at(12))
    payout = Payout.objects.create(user=user, currency="usd", amount=50, method="manual", status="exported",
                                   created_at=_at(14))
    reward = Reward.objects.create(campaign=campaign, task=task, enrolment=enrolment, user=user,
                                   submission=submission, kind="cash", currency="usd", amount=50, payout=payout,
                                   created_at=_at(13))
    return user, other, dict(job=job, failed=failed, post=post, comment=comment, entry=entry, campaign=campaign,
                             submission=submission, payout=payout, reward=reward)


def test_the_archive_holds_every_section_exactly_and_the_media_byte_for_byte(sent_tasks):
    user, other, seeded = _seeded_user()
    job, failed, post = seeded["job"], seeded["failed"], seeded["post"]
    post.refresh_from_db()
    payout = seeded["payout"]
    payout.refresh_from_db()

    export = _built(user, sent_tasks)

    archive = _archive(export)
    job_media = f"media/generations/{job.pk}"
    assert sorted(archive.namelist()) == sorted([f"{name}.json" for name in SECTIONS] + [
        "export.json", "media/profile/ana.jpg", f"{job_media}/video.mp4", f"{job_media}/poster.jpg"])
    assert _json(archive, "export.json") == {
        "format": 1, "user_id": user.pk, "handle": "ana", "created_at": _iso(export.started_at),
        "sections": SECTIONS, "media_files": 3, "missing_media": []}
    assert _json(archive, "profile.json") == {
        "id": user.pk, "email": "ana@example.com", "email_verified": False, "handle": "ana", "display_name": "Ana",
        "bio": "boats", "locale": "es-MX", "country": "MX", "market": None, "birth_year": 1991,
        "daily_feed_minutes": None, "avatar": "media/profile/ana.jpg", "created_at": "2026-01-02T03:04:05Z"}
    assert _json(archive, "follows.json") == [{"user_id": other.pk, "handle": "bo",
                                               "created_at": "2026-01-02T03:05:05Z"}]
    assert _json(archive, "followers.json") == [{"user_id": other.pk, "handle": "bo",
                                                 "created_at": "2026-01-02T03:06:05Z"}]
    common = {"kind": "text_to_video", "duration_seconds": 4, "width": 480, "height": 854, "fps": 24, "cost": 4,
              "source_job_id": None, "retry_of_id": None, "input_image": None, "source_video": None}
    assert _json(archive, "generations.json") == [
        {**common, "id": str(job.pk), "status": "succeeded", "prompt": "a paper boat at dusk", "style": "film",
         "seed": 42, "error_code": "", "result_duration": 4.0, "created_at": "2026-01-02T03:07:05Z",
         "finished_at": "2026-01-02T03:08:05Z", "video": f"{job_media}/video.mp4",
         "poster": f"{job_media}/poster.jpg"},
        {**common, "id": str(failed.pk), "status": "failed", "prompt": "a storm", "style": "", "seed": 1,
         "error_code": "render_failed", "result_duration": None, "created_at": "2026-01-02T03:09:05Z",
         "finished_at": "2026-01-02T03:10:05Z", "video": None, "poster": None},
    ]
    assert _json(archive, "posts.json") == [{
        "id": post.pk, "generation_id": str(job.pk), "caption": "boat #sea", "hashtags": ["sea"], "language": "en",
        "region": "US", "visibility": "public", "remix_policy": "everyone", "status": "active", "parent_id": None,
        "likes_count": 0, "comments_count": 0, "remixes_count": 0, "views_count": 0, "shares_count": 0,
        "created_at": "2026-01-02T03:11:05Z", "updated_at": _iso(post.updated_at)}]
    assert _json(archive, "comments.json") == [{"id": seeded["comment"].pk, "post_id": seeded["comment"].post_id,
                                                "parent_id": None, "body": "lovely",
                                                "created_at": "2026-01-02T03:13:05Z"}]
    assert _json(archive, "likes.json") == [{"post_id": seeded["comment"].post_id,
                                             "created_at": "2026-01-02T03:14:05Z"}]
    welcome = CreditEntry.objects.get(user=user, reference="signup")  # every new account's grant
    assert _json(archive, "credit_history.json") == [
        {"kind": "grant", "available_delta": 100, "reserved_delta": 0, "available_after": 100, "reserved_after": 0,
         "reference": "signup", "reason": "Welcome credits", "created_at": _iso(welcome.created_at)},
        {"kind": "grant", "available_delta": 25, "reserved_delta": 0, "available_after": 125, "reserved_after": 0,
         "reference": "promo:1", "reason": "promo", "created_at": _iso(seeded["entry"].created_at)}]
    assert _json(archive, "campaign_submissions.json") == [{
        "id": seeded["submission"].pk, "campaign_id": seeded["campaign"].pk, "post_id": post.pk,
        "status": "accepted", "submitted_at": "2026-01-02T03:16:05Z", "reviewed_at": None, "review_reason": ""}]
    assert _json(archive, "campaign_rewards.json") == [{
        "id": seeded["reward"].pk, "campaign_id": seeded["campaign"].pk, "submission_id": seeded["submission"].pk,
        "kind": "cash", "currency": "usd", "amount": 50, "payout_id": payout.pk,
        "created_at": "2026-01-02T03:17:05Z"}]
    assert _json(archive, "payouts.json") == [{
        "id": payout.pk, "currency": "usd", "amount": 50, "method": "manual", "status": "exported",
        "created_at": "2026-01-02T03:18:05Z", "paid_at": None}]

    # The media are the stored bytes, stored as they are; the JSON is deflated.
    assert archive.read(f"{job_media}/video.mp4") == VIDEO
    assert archive.read(f"{job_media}/poster.jpg") == POSTER
    assert archive.read("media/profile/ana.jpg") == AVATAR
    kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert {kinds[n] for n in kinds if n.startswith("media/")} == {zipfile.ZIP_STORED}
    assert {kinds[n] for n in kinds if n.endswith(".json")} == {zipfile.ZIP_DEFLATED}
    assert archive.testzip() is None
    assert export.size_bytes == default_storage.size(export.file.name)
    assert export.file.name == f"exports/{user.pk}/{export.pk}.zip"


def test_a_user_with_no_data_gets_every_section_empty(sent_tasks):
    user = UserFactory(handle="empty", email="empty@example.com", display_name="", bio="", created_at=T0)

    archive = _archive(_built(user, sent_tasks))

    assert sorted(archive.namelist()) == sorted(["export.json", *[f"{name}.json" for name in SECTIONS]])
    for name in SECTIONS:
        if name != "profile":
            assert _json(archive, f"{name}.json") == [], name
    assert _json(archive, "profile.json")["avatar"] is None
    assert _json(archive, "export.json")["media_files"] == 0


def test_a_stored_file_that_is_gone_is_listed_missing_and_the_export_still_ready(sent_tasks):
    user = UserFactory()
    job = SucceededJobFactory(user=user, video="generations/gone/video.mp4", poster="")

    archive = _archive(_built(user, sent_tasks))

    assert _json(archive, "export.json")["missing_media"] == [f"media/generations/{job.pk}/video.mp4"]
    assert not [n for n in archive.namelist() if n.startswith("media/")]


# --- Build: notification, idempotence, failures ----------------------------------------------


def test_ready_notifies_the_user_only_after_the_build_commits(user, sent_tasks, events_of,
                                                               django_capture_on_commit_callbacks):
    export = AccountExport.objects.create(user=user)
    events = events_of(user)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert account_export_build(export_id=export.pk) == "ready"
        assert Notification.objects.filter(user=user, type="account.export_ready").count() == 1
    assert events() == []
    assert [name for name, _, _ in sent_tasks] == []

    for callback in callbacks:
        callback()
    [told] = [e for e in events() if e["type"] == "notification.created"]
    assert told["notification_type"] == "account.export_ready"
    note = Notification.objects.get(user=user)
    assert (note.target, note.data) == (f"export:{export.pk}", {"export_id": str(export.pk)})
    assert [(name, args) for name, args, _ in sent_tasks] == [(PUSH_TASK, [note.pk])]


def test_the_inbox_says_it(user, client_for, sent_tasks):
    account_export_build(export_id=AccountExport.objects.create(user=user).pk)

    [group] = client_for(user).get("/api/v1/notifications").json()["results"]
    assert (group["type"], group["title"], group["body"]) == (
        "account.export_ready", "Your data export is ready", "Download it from Settings before the link expires.")


def test_a_second_build_message_changes_nothing(user, sent_tasks):
    export = AccountExport.objects.create(user=user)
    account_export_build(export_id=export.pk)
    export.refresh_from_db()
    before, files = table_rows(), sorted(default_storage.listdir(f"exports/{user.pk}")[1])

    assert build_account_export.run(str(export.pk)) == "ready"

    assert table_rows() == before
    assert sorted(default_storage.listdir(f"exports/{user.pk}")[1]) == files == [f"{export.pk}.zip"]
    assert Notification.objects.filter(user=user).count() == 1
    assert account_export_build(export_id="6f1c2a4e-2b1d-4c3e-9f0a-1b2c3d4e5f60") == "gone"


def test_a_build_running_on_a_live_worker_is_left_to_it(user, sent_tasks):
    started = timezone.now() - timedelta(minutes=1)
    export = AccountExport.objects.create(user=user, status="running", started_at=started, attempts=1)

    assert account_export_build(export_id=export.pk) == "running"

    export.refresh_from_db()
    assert (export.status, export.started_at, export.attempts, export.file.name) == ("running", started, 1, "")


def test_a_storage_error_is_retried_then_fails_and_a_failed_export_does_not_block(user, client_for, sent_tasks,
                                                                                   monkeypatch):
    export = AccountExport.objects.create(user=user)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", broken)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(OSError):
            account_export_build(export_id=export.pk)
        export.refresh_from_db()
        assert (export.attempts, export.error) == (attempt, "OSError: disk full")
        assert export.status == ("failed" if attempt == MAX_ATTEMPTS else "pending")
    assert Notification.objects.count() == 0
    monkeypatch.undo()

    assert client_for(user).post(URL).status_code == 202


# --- Reading and downloading ---------------------------------------------------------------


def test_latest_export_and_its_link_download_the_stored_zip(auth_api, sent_tasks, settings):
    assert auth_api.get(URL).status_code == 404
    assert auth_api.get(URL).json()["error"]["code"] == "export_not_found"

    export = _built(auth_api.user, sent_tasks)
    body = auth_api.get(URL).json()

    assert body["status"] == "ready" and body["size_bytes"] == export.size_bytes
    assert body["expires_at"] == _api_time(export.expires_at)
    assert export.expires_at == export.finished_at + timedelta(hours=72)
    url = body["download_url"]
    assert url.startswith(f"{BASE}/api/v1/me/export/download/")
    response = auth_api.get(url.removeprefix(BASE))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="export-{export.created_at:%Y-%m-%d}.zip"'
    with default_storage.open(export.file.name, "rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()


def test_another_users_token_or_a_forged_one_is_404_and_signed_out_is_401(client_for, api, sent_tasks):
    owner, stranger = UserFactory(), UserFactory()
    token = account_export_download_token(_built(owner, sent_tasks))
    as_owner, as_stranger = client_for(owner), client_for(stranger)
    before = table_rows()

    for bad in (token, token[:-2] + "xx", "not-a-token"):
        response = as_stranger.get(f"{URL}/download/{bad}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "export_not_found"), bad
    assert as_owner.get(f"{URL}/download/{token[:-2]}xx").status_code == 404
    assert api.get(f"{URL}/download/{token}").status_code == 401
    assert table_rows() == before


def test_an_expired_link_is_410(auth_api, sent_tasks):
    export = _built(auth_api.user, sent_tasks)
    live = account_export_download_token(export)
    export.expires_at = timezone.now() - timedelta(seconds=1)
    stale = account_export_download_token(export)  # a link handed out for an earlier expiry

    response = auth_api.get(f"{URL}/download/{stale}")
    assert (response.status_code, response.json()["error"]["code"]) == (410, "export_expired")
    assert auth_api.get(f"{URL}/download/{live}").status_code == 200

    AccountExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = auth_api.get(f"{URL}/download/{live}")
    assert (response.status_code, response.json()["error"]["code"]) == (410, "export_expired")
    assert auth_api.get(URL).json()["download_url"] is None


# --- The sweep -----------------------------------------------------------------------------


def test_the_sweep_deletes_expired_files_and_resends_lost_builds(client_for, sent_tasks, settings,
                                                                  django_capture_on_commit_callbacks):
    expired_user, live_user = UserFactory(), UserFactory()
    expired, live = _built(expired_user, sent_tasks), _built(live_user, sent_tasks)
    token = account_export_download_token(expired)
    AccountExport.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    lost = AccountExport.objects.create(user=UserFactory(), created_at=timezone.now() - timedelta(minutes=11))
    fresh = AccountExport.objects.create(user=UserFactory())
    dead = AccountExport.objects.create(user=UserFactory(), status="running", started_at=long_ago, attempts=1)
    spent = AccountExport.objects.create(user=UserFactory(), status="running", started_at=long_ago,
                                         attempts=MAX_ATTEMPTS)
    sent_tasks.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert account_exports_sweep() == {"expired": 1, "failed": 1, "resent": 2}

    assert not default_storage.exists(expired.file.name)
    assert default_storage.exists(live.file.name)
    statuses = dict(AccountExport.objects.values_list("pk", "status"))
    assert (statuses[expired.pk], statuses[live.pk], statuses[lost.pk], statuses[fresh.pk], statuses[dead.pk],
            statuses[spent.pk]) == ("expired", "ready", "pending", "pending", "running", "failed")
    assert AccountExport.objects.get(pk=expired.pk).file.name == ""
    assert sorted(args[0] for name, args, _ in sent_tasks if name == BUILD_TASK) == sorted([str(lost.pk),
                                                                                          str(dead.pk)])
    response = client_for(expired_user).get(f"{URL}/download/{token}")
    assert (response.status_code, response.json()["error"]["code"]) == (410, "export_expired")
    # An expired export still counts for the interval.
    assert client_for(expired_user).post(URL).json()["error"]["code"] == "export_too_soon"


def test_a_dead_workers_build_is_taken_over(user, sent_tasks, settings):
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    export = AccountExport.objects.create(user=user, status="running", started_at=long_ago, attempts=1)

    assert account_export_build(export_id=export.pk) == "ready"

    export.refresh_from_db()
    assert (export.status, export.attempts) == ("ready", 2)


# --- S3 --------------------------------------------------------------------------------------


def test_on_s3_the_archive_is_in_the_bucket_behind_a_presigned_url(s3_storage, client_for, sent_tasks):
    user = UserFactory()
    video = default_storage.save("generations/s3/video.mp4", ContentFile(VIDEO))
    job = SucceededJobFactory(user=user, video=video, poster="")

    export = _built(user, sent_tasks)
    url = client_for(user).get(URL).json()["download_url"]

    assert f"exports/{user.pk}/{export.pk}.zip" in s3_storage.keys()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{s3_storage.endpoint_url}/{s3_storage.bucket}/exports/{user.pk}/{export.pk}.zip")
    assert 72 * 3600 - 5 <= int(query["X-Amz-Expires"][0]) <= 72 * 3600
    with urllib.request.urlopen(url, timeout=10) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    assert archive.read(f"media/generations/{job.pk}/video.mp4") == VIDEO


# --- The registry ----------------------------------------------------------------------------


def test_a_section_name_has_one_owner(monkeypatch):
    monkeypatch.setattr(registry, "_SECTIONS", dict(registry._SECTIONS))

    def collect(user):
        return Section(data={})

    account_export_section_register("extra", collect)
    account_export_section_register("extra", collect)  # the same again (a second ready()) is fine
    with pytest.raises(ValueError, match="registered already"):
        account_export_section_register("extra", lambda user: Section(data={}))
    with pytest.raises(ValueError, match="lower-case"):
        account_export_section_register("../x", collect)
    assert "extra" in registry.account_export_sections()


def test_staff_see_exports_in_the_admin(admin_client, user):
    from django.urls import reverse

    export = AccountExport.objects.create(user=user, status="failed", error="OSError: disk full")

    assert admin_client.get(reverse("admin:accounts_accountexport_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:accounts_accountexport_change", args=[export.pk]))
    assert page.status_code == 200 and "OSError: disk full" in page.content.decode()


def test_deleting_a_users_exports_deletes_their_files(sent_tasks, django_capture_on_commit_callbacks):
    from accounts.exports.services import account_exports_delete

    user, other = UserFactory(), UserFactory()
    mine, theirs = _built(user, sent_tasks), _built(other, sent_tasks)

    with django_capture_on_commit_callbacks(execute=True):
        assert account_exports_delete(user_id=user.pk) == 1

    assert not default_storage.exists(mine.file.name)
    assert default_storage.exists(theirs.file.name)
    assert list(AccountExport.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_the_schema_names_the_export_codes_and_beat_runs_the_sweep(api):
    from config.celery import app

    spec = api.get("/api/schema/?format=json").json()
    export, download = spec["paths"]["/api/v1/me/export"], spec["paths"]["/api/v1/me/export/download/{token}"]
    assert "`export_too_soon`" in export["post"]["responses"]["429"]["description"]
    assert "`export_not_found`" in export["get"]["responses"]["404"]["description"]
    assert "`export_not_found`" in download["get"]["responses"]["404"]["description"]
    assert "`export_expired`" in download["get"]["responses"]["410"]["description"]
    assert app.conf.beat_schedule["accounts-sweep-exports"]["task"] == "accounts.tasks.sweep_account_exports"
