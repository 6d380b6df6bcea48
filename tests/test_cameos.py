"""Cameos end to end: the consent rule, creation, verification, the three checks, revocation
that follows the remix tree, restore, purge, and a revocation racing submits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.cameos import services as cameo_services
from accounts.cameos.consent import may_use
from accounts.cameos.media import write_test_clip
from accounts.cameos.models import Cameo, CameoGrant, CameoLevel, CameoStatus, GrantStatus
from accounts.cameos.verification import phrase_matches
from accounts.tests.factories import BlockFactory, FollowFactory, UserFactory
from billing.selectors import credit_balance
from config.errors import ApplicationError
from feed.models import Post, PostStatus
from feed.tests.factories import PostFactory, SucceededJobFactory
from generation import services as gen
from generation.models import GenerationJob, JobStatus
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, sent_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8
    settings.CREDITS_SIGNUP_GRANT = 100


def verified_cameo(owner, *, level=CameoLevel.EVERYONE, name="Ada") -> Cameo:
    cameo = Cameo.objects.create(owner=owner, name=name, level=level, status=CameoStatus.VERIFIED,
                                 verified_at=timezone.now())
    cameo.reference_image.save("reference.jpg", ContentFile(_jpeg()), save=True)
    return cameo


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 10, 10)).save(out, "JPEG")
    return out.getvalue()


def submit(user, **overrides):
    params = {"kind": "text_to_video", "prompt": "lanterns over a lake", "duration_seconds": 4, "size": "480x854"}
    params.update(overrides)
    return gen.generation_submit(user=user, **params)[0]


# --- the rule: every level x every relation --------------------------------------------

RELATIONS = ["self", "approved", "mutual", "follower", "stranger", "blocked"]
EXPECTED = {
    CameoLevel.ONLY_ME: {"self"},
    CameoLevel.APPROVED: {"self", "approved"},
    CameoLevel.MUTUALS: {"self", "approved", "mutual"},
    CameoLevel.EVERYONE: {"self", "approved", "mutual", "follower", "stranger"},
}


@pytest.mark.parametrize("level", list(EXPECTED))
@pytest.mark.parametrize("rel", RELATIONS)
def test_permission_level_by_relation(level, rel):
    owner, other = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=level)
    user = owner if rel == "self" else other
    if rel == "approved":
        CameoGrant.objects.create(cameo=cameo, user=other, status=GrantStatus.APPROVED)
    if rel in ("mutual", "follower"):
        FollowFactory(follower=other, followee=owner)
    if rel == "mutual":
        FollowFactory(follower=owner, followee=other)
    if rel == "blocked":
        CameoGrant.objects.create(cameo=cameo, user=other, status=GrantStatus.APPROVED)
        BlockFactory(blocker=owner, blocked=other)
    assert may_use(cameo=cameo, user_id=user.pk) is (rel in EXPECTED[level])


def test_a_revoked_person_is_refused_even_at_everyone():
    owner, other = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.EVERYONE)
    cameo_services.cameo_grant_decide(user=owner, cameo_id=cameo.pk, grantee_id=other.pk, action="revoke")
    assert may_use(cameo=cameo, user_id=other.pk) is False


# --- creation and verification ---------------------------------------------------------

def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile("clip.mp4", path.read_bytes(), content_type="video/mp4")


def test_create_checks_the_clip_and_the_challenge_then_staff_review_is_the_fallback(tmp_path, client_for):
    user = UserFactory()
    client = client_for(user)
    challenge = client.post("/api/v1/cameos/challenges").json()
    assert len(challenge["phrase"].split()) == 5
    silent = write_test_clip(tmp_path / "silent.mp4", seconds=3)
    mute = write_test_clip(tmp_path / "mute.mp4", seconds=3, with_audio=False)
    long = write_test_clip(tmp_path / "long.mp4", seconds=20)
    for path, code in ((mute, "clip_no_audio"), (long, "clip_length")):
        r = client.post("/api/v1/cameos", {"clip": _upload(path), "challenge_id": challenge["id"], "name": "Ada"},
                        format="multipart")
        assert (r.status_code, r.json()["error"]["code"]) == (400, code)
    junk = SimpleUploadedFile("clip.mp4", b"not a video" * 100, content_type="video/mp4")
    r = client.post("/api/v1/cameos", {"clip": junk, "challenge_id": challenge["id"], "name": "Ada"},
                    format="multipart")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "clip_invalid")
    assert not Cameo.objects.exists()

    r = client.post("/api/v1/cameos", {"clip": _upload(silent), "challenge_id": challenge["id"], "name": "Ada"},
                    format="multipart")
    assert r.status_code == 201, r.json()
    cameo = Cameo.objects.get()
    assert (cameo.status, cameo.clip_codec, bool(cameo.reference_image)) == (CameoStatus.PENDING, "h264", True)
    again = client.post("/api/v1/cameos", {"clip": _upload(silent), "challenge_id": challenge["id"], "name": "Ada"},
                        format="multipart")
    assert again.json()["error"]["code"] == "challenge_invalid"

    # The offline checker hears no digits in silence: staff review, not verified.
    assert cameo_services.cameo_verify(cameo_id=cameo.pk) == CameoStatus.REVIEW
    assert not Cameo.objects.get().usable
    cameo_services.cameo_review(staff=None, cameo_id=cameo.pk, approve=True)
    assert Cameo.objects.get().usable


def test_phrase_matching_wants_every_digit_in_order():
    assert phrase_matches(phrase="four seven two", transcript="four seven two")
    assert phrase_matches(phrase="zero one", transcript="oh one")
    assert not phrase_matches(phrase="four seven two", transcript="four two seven")
    assert not phrase_matches(phrase="four seven two", transcript="")


# --- submit --------------------------------------------------------------------------

@pytest.mark.parametrize("case,code", [("not_permitted", "cameo_not_permitted"), ("unverified", "cameo_not_verified"),
                                       ("three", "too_many_cameos")])
def test_refusals_at_submit_make_no_job_and_charge_nothing(case, code):
    user, owner = UserFactory(), UserFactory()
    if case == "not_permitted":
        ids = [verified_cameo(owner, level=CameoLevel.ONLY_ME).pk]
    elif case == "unverified":
        cameo = verified_cameo(owner)
        Cameo.objects.filter(pk=cameo.pk).update(status=CameoStatus.REVIEW)
        ids = [cameo.pk]
    else:
        ids = [verified_cameo(UserFactory()).pk for _ in range(3)]
    before = credit_balance(user_id=user.pk).available
    with pytest.raises(ApplicationError) as exc:
        submit(user, cameo_ids=ids)
    assert exc.value.code == code
    assert not GenerationJob.objects.exists()
    assert credit_balance(user_id=user.pk).available == before


def test_a_protected_name_needs_that_persons_cameo(settings):
    settings.GENERATION_PROTECTED_NAMES = ["Ada Lovelace"]
    user = UserFactory()
    with pytest.raises(ApplicationError) as exc:
        submit(user, prompt="Ada Lovelace rides a bike")
    assert exc.value.code == "prompt_rejected"
    cameo = verified_cameo(UserFactory(), name="Ada Lovelace")
    job = submit(user, prompt="Ada Lovelace rides a bike", cameo_ids=[cameo.pk])
    assert list(job.cameos.all()) == [cameo]


def test_a_remix_keeps_its_sources_cameos_unless_it_names_its_own():
    user = UserFactory()
    cameo = verified_cameo(user)
    source = SucceededJobFactory(user=user)
    source.cameos.set([cameo])
    remix = submit(user, kind="remix", source_generation_id=source.pk)
    assert list(remix.cameos.all()) == [cameo]
    without = submit(user, kind="remix", source_generation_id=source.pk, cameo_ids=[])
    assert list(without.cameos.all()) == []


# --- revoke: jobs -----------------------------------------------------------------------

def test_revoking_cancels_queued_and_running_jobs_and_releases_credits():
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.APPROVED)
    CameoGrant.objects.create(cameo=cameo, user=friend, status=GrantStatus.APPROVED)
    queued = submit(friend, cameo_ids=[cameo.pk])
    running = submit(friend, cameo_ids=[cameo.pk], prompt="another lake")
    GenerationJob.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, lease_owner="w", attempts=1)
    own = submit(owner, cameo_ids=[cameo.pk])
    before = credit_balance(user_id=friend.pk).available

    cameo_services.cameo_grant_decide(user=owner, cameo_id=cameo.pk, grantee_id=friend.pk, action="revoke")

    states = dict(GenerationJob.objects.values_list("pk", "status"))
    assert states == {queued.pk: JobStatus.CANCELED, running.pk: JobStatus.CANCELED, own.pk: JobStatus.QUEUED}
    assert GenerationJob.objects.get(pk=queued.pk).error_code == "cameo_consent_revoked"
    assert credit_balance(user_id=friend.pk).available == before + queued.cost + running.cost
    with pytest.raises(gen.LeaseLost):
        gen.job_progress(job_id=running.pk, owner="w", fraction=0.5)


def test_the_worker_checks_consent_again_when_it_starts():
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.APPROVED)
    grant = CameoGrant.objects.create(cameo=cameo, user=friend, status=GrantStatus.APPROVED)
    job = submit(friend, cameo_ids=[cameo.pk])
    CameoGrant.objects.filter(pk=grant.pk).delete()  # consent gone without the revoke hooks
    assert gen.job_claim(owner="w", hint_job_id=job.pk).outcome == gen.StartOutcome.IDLE
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.CANCELED


def test_the_preview_render_shows_the_cameo_stand_in():
    user = UserFactory()
    cameo = verified_cameo(user)
    job = submit(user, cameo_ids=[cameo.pk])
    assert gen.job_claim(owner="w", hint_job_id=job.pk).job_id == job.pk
    assert gen.job_render(job_id=job.pk, owner="w") == JobStatus.SUCCEEDED
    from django.core.files.storage import default_storage

    from generation.backends.media import read_frames

    job.refresh_from_db()
    frame = next(iter(read_frames(Path(default_storage.path(job.video.name)), 480, 854)))
    r, g, b = frame[30:60, 30:60].reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 90 and b < 90  # the red reference frame, inset at the top left


# --- revoke: posts down the remix tree, and back ------------------------------------------

def test_lowering_the_level_takes_down_remixes_three_deep_and_raising_it_restores_them():
    owner, approved = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.EVERYONE)
    CameoGrant.objects.create(cameo=cameo, user=approved, status=GrantStatus.APPROVED)
    posts, parent = [], None
    for author in (approved, UserFactory(), UserFactory(), UserFactory()):
        job = SucceededJobFactory(user=author)
        job.cameos.set([cameo])
        post = PostFactory(author=author, generation=job, parent=parent)
        posts.append(post)
        parent = post
    unrelated = PostFactory()

    cameo_services.cameo_update(user=owner, cameo_id=cameo.pk, data={"level": CameoLevel.APPROVED})
    status = lambda: [Post.objects.get(pk=p.pk).status for p in posts]  # noqa: E731
    assert status() == [PostStatus.ACTIVE] + [PostStatus.TAKEN_DOWN] * 3
    assert Post.objects.get(pk=unrelated.pk).status == PostStatus.ACTIVE
    assert Post.objects.get(pk=posts[3].pk).takedown_reason == f"cameo_consent:{cameo.pk}"

    cameo_services.cameo_update(user=owner, cameo_id=cameo.pk, data={"level": CameoLevel.EVERYONE})
    assert status() == [PostStatus.ACTIVE] * 4


def test_posting_a_draft_checks_consent_again():
    from feed import services as feed_services

    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.ONLY_ME)
    job = SucceededJobFactory(user=friend)
    job.cameos.set([cameo])
    with pytest.raises(ApplicationError) as exc:
        feed_services.post_create(user=friend, generation_id=job.pk)
    assert exc.value.code == "cameo_not_permitted"
    assert not Post.objects.exists()


def test_appearances_are_the_owners_only(client_for):
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner)
    job = submit(friend, cameo_ids=[cameo.pk])
    rows = client_for(owner).get(f"/api/v1/cameos/{cameo.pk}/appearances").json()
    assert [(r["job_id"], r["user"], r["post_id"]) for r in rows] == [(str(job.pk), friend.handle, None)]
    r = client_for(friend).get(f"/api/v1/cameos/{cameo.pk}/appearances")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "cameo_not_found")


def test_deleted_cameos_are_purged_after_the_grace_period():
    owner = UserFactory()
    cameo = verified_cameo(owner)
    cameo_services.cameo_delete(user=owner, cameo_id=cameo.pk)
    assert cameo_services.cameos_purge() == 0
    Cameo.objects.filter(pk=cameo.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert cameo_services.cameos_purge() == 1
    cameo.refresh_from_db()
    assert (cameo.reference_image.name, cameo.purged_at is not None) == ("", True)


# --- the race ------------------------------------------------------------------------

def test_a_revocation_racing_submits_leaves_no_job_without_consent():
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.APPROVED)
    CameoGrant.objects.create(cameo=cameo, user=friend, status=GrantStatus.APPROVED)

    def one_submit(i):
        def call():
            try:
                return submit(friend, cameo_ids=[cameo.pk], prompt=f"lake {i}").pk
            except ApplicationError as exc:
                return exc.code
        return call

    def revoke():
        cameo_services.cameo_grant_decide(user=owner, cameo_id=cameo.pk, grantee_id=friend.pk, action="revoke")
        return "revoked"

    results = at_once([one_submit(i) for i in range(4)] + [revoke])
    assert results[-1] == "revoked"
    assert not GenerationJob.objects.filter(user=friend, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()
