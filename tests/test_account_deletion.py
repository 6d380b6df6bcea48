"""Account deletion end to end: the re-authenticated request deactivates the account at once,
its owner may cancel within the grace period, and the beat task purges it through every app's
step, leaving no row that names the person."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.cameos.consent import consent_problem
from accounts.cameos.models import Cameo, CameoLevel, CameoStatus
from accounts.deletion import registry
from accounts.deletion.services import ACCOUNTS_ANONYMISES, ACCOUNTS_HANDLES, account_purge, accounts_purge_due
from accounts.models import AccountDeletion, AccountExport, AuthSession, Block, Device, Follow, HandleReservation, Notification, User
from accounts.notifications import notify
from accounts.services import user_suspend
from accounts.tests.factories import DEFAULT_PASSWORD, DeviceFactory, FollowFactory, UserFactory
from billing.entitlement_models import StoreSubscription
from billing.models import CreditAccount, CreditEntry, Subscription
from billing.services import ledger
from billing.tests.factories import SubscriptionFactory
from creators.models import Campaign, Payout, Reward
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, publish_task
from feed.models import Comment, Like, Post, PostStatus
from feed.tests.factories import CommentFactory, PostFactory, SucceededJobFactory
from config.errors import ApplicationError
from generation.models import GenerationJob, JobStatus
from generation.services.submission import generation_submit

pytestmark = pytest.mark.django_db

DELETE = "/api/v1/me/delete"
CANCEL = "/api/v1/me/delete/cancel"
PROJECT = "clipsocial-test"


def _code(response) -> str:
    return response.json()["error"]["code"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _firebase_token(uid: str, *, signed_in_ago: int = 0) -> str:
    """The Firebase Auth emulator's token shape, for a sign-in `signed_in_ago` seconds back."""
    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{PROJECT}", "aud": PROJECT, "auth_time": now - signed_in_ago,
              "user_id": uid, "sub": uid, "iat": now, "exp": now + 3600,
              "firebase": {"identities": {}, "sign_in_provider": "password"}}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@pytest.fixture
def firebase_emulator(settings, monkeypatch):
    settings.FIREBASE_PROJECT_ID = PROJECT
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _untouched(user: User) -> None:
    user.refresh_from_db()
    assert user.is_active is True
    assert not AccountDeletion.objects.filter(user=user).exists()
    assert AuthSession.objects.filter(user=user, ended_at__isnull=True).exists()


def _due(deletion: AccountDeletion) -> None:
    AccountDeletion.objects.filter(pk=deletion.pk).update(purge_after=timezone.now() - timedelta(seconds=1))


# --- the request --------------------------------------------------------------------------------

def test_without_a_password_or_token_it_is_400_reauth_required_and_nothing_changes(auth_api, user):
    response = auth_api.post(DELETE, {}, format="json")

    assert (response.status_code, _code(response)) == (400, "reauth_required")
    _untouched(user)
    assert auth_api.get("/api/v1/me").status_code == 200


def test_a_wrong_password_is_403_reauth_failed_and_nothing_changes(auth_api, user):
    response = auth_api.post(DELETE, {"password": "not-my-password"}, format="json")

    assert (response.status_code, _code(response)) == (403, "reauth_failed")
    _untouched(user)


def test_a_firebase_sign_in_older_than_five_minutes_is_403_reauth_stale(client_for, firebase_emulator):
    user = UserFactory(firebase_uid="fb-1")
    client = client_for(user)

    stale = client.post(DELETE, {"id_token": _firebase_token("fb-1", signed_in_ago=301)}, format="json")
    other = client.post(DELETE, {"id_token": _firebase_token("fb-someone-else")}, format="json")

    assert (stale.status_code, _code(stale)) == (403, "reauth_stale")
    assert (other.status_code, _code(other)) == (403, "reauth_failed")
    _untouched(user)


def test_a_fresh_firebase_sign_in_deletes(client_for, firebase_emulator):
    user = UserFactory(firebase_uid="fb-2")

    response = client_for(user).post(DELETE, {"id_token": _firebase_token("fb-2", signed_in_ago=60)}, format="json")

    assert response.status_code == 202, response.json()
    assert AccountDeletion.objects.filter(user=user, purged_at__isnull=True).count() == 1


def test_deleting_deactivates_at_once_ends_every_session_and_hides_the_profile(settings, api, auth_api, user,
                                                                              client_for):
    settings.ACCOUNT_DELETION_GRACE_DAYS = 14
    refresh = api.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}).json()["refresh"]
    DeviceFactory(user=user)
    fan = UserFactory()
    FollowFactory(follower=fan, followee=user)
    PostFactory(author=user)
    before = timezone.now()

    response = auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    deletion = AccountDeletion.objects.get(user=user)
    assert body["status"] == "pending_deletion"
    assert timedelta(days=14) <= deletion.purge_after - before < timedelta(days=14, seconds=30)
    user.refresh_from_db()
    assert user.is_active is False
    assert set(AuthSession.objects.filter(user=user).values_list("end_reason", flat=True)) == {"account_deleted"}
    assert not Device.objects.filter(user=user).exists()
    assert auth_api.get("/api/v1/me").status_code == 401
    assert _code(api.post("/api/v1/auth/refresh", {"refresh": refresh})) == "session_ended"
    # Signing in says why, with the right password only.
    login = api.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert (login.status_code, _code(login)) == (403, "account_pending_deletion")
    wrong = api.post("/api/v1/auth/login", {"email": user.email, "password": "nope-nope-nope"})
    assert (wrong.status_code, _code(wrong)) == (401, "invalid_credentials")
    # Gone from every list and feed.
    viewer = client_for(fan)
    assert viewer.get(f"/api/v1/users/{user.handle}").status_code == 404
    assert viewer.get(f"/api/v1/users/{fan.handle}/following").json()["results"] == []
    assert viewer.get("/api/v1/feed/trending").json()["results"] == []


def test_a_second_request_is_refused_by_the_dead_token(auth_api, user):
    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202
    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 401
    assert AccountDeletion.objects.filter(user=user).count() == 1


def test_firebase_sign_in_of_a_pending_account_is_403_account_pending_deletion(api, client_for, firebase_emulator):
    user = UserFactory(firebase_uid="fb-3")
    assert client_for(user).post(DELETE, {"id_token": _firebase_token("fb-3")}, format="json").status_code == 202

    response = api.post("/api/v1/auth/firebase", {"id_token": _firebase_token("fb-3")})

    assert (response.status_code, _code(response)) == (403, "account_pending_deletion")


def test_from_the_request_on_nobody_may_use_the_cameo_and_nothing_is_created(settings, tmp_path, auth_api, user):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    Cameo.objects.create(owner=user, name="Ada", level=CameoLevel.EVERYONE, status=CameoStatus.VERIFIED,
                         verified_at=timezone.now())
    cameo = Cameo.objects.get(owner=user)
    friend = UserFactory()
    ledger.credits_grant(user_id=friend.pk, amount=100, key=f"grant-{friend.pk}")
    assert consent_problem(cameo=cameo, user_id=friend.pk) is None
    credits = CreditAccount.objects.get(user=friend).available

    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202

    with pytest.raises(ApplicationError) as refused:
        generation_submit(user=friend, kind="text_to_video", prompt="lanterns over a lake", duration_seconds=4,
                          size="480x854", cameo_ids=[cameo.pk])
    assert refused.value.code == "cameo_not_found"
    assert not GenerationJob.objects.filter(user=friend).exists()
    assert CreditAccount.objects.get(user=friend).available == credits


def test_others_posts_with_the_cameo_go_down_at_the_request_and_come_back_on_cancel(api, auth_api, user):
    cameo = Cameo.objects.create(owner=user, name="Ada", level=CameoLevel.EVERYONE, status=CameoStatus.VERIFIED,
                                 verified_at=timezone.now())
    friend = UserFactory()
    job = SucceededJobFactory(user=friend)
    job.cameos.set([cameo])
    post, unrelated = PostFactory(author=friend, generation=job), PostFactory(author=friend)

    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202
    assert Post.objects.get(pk=post.pk).status == PostStatus.TAKEN_DOWN
    assert Post.objects.get(pk=unrelated.pk).status == PostStatus.ACTIVE

    response = api.post(CANCEL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    assert Post.objects.get(pk=post.pk).status == PostStatus.ACTIVE


def test_an_active_store_subscription_is_409_unless_confirmed(auth_api, user):
    StoreSubscription.objects.create(user=user, store="apple", store_key="orig-1",
                                     status=StoreSubscription.Status.ACTIVE, auto_renew=True)

    refused = auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json")

    assert (refused.status_code, _code(refused)) == (409, "store_subscription_active")
    assert "cancel it in the store" in refused.json()["error"]["message"]
    _untouched(user)
    confirmed = auth_api.post(DELETE, {"password": DEFAULT_PASSWORD, "confirm_store_subscription": True},
                              format="json")
    assert confirmed.status_code == 202


def test_an_expired_store_subscription_does_not_stop_it(auth_api, user):
    StoreSubscription.objects.create(user=user, store="google", store_key="tok-1",
                                     status=StoreSubscription.Status.EXPIRED)

    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202


def test_running_and_queued_jobs_are_canceled_at_the_request(auth_api, user):
    from generation.tests.factories import GenerationJobFactory

    ledger.credits_grant(user_id=user.pk, amount=100, key=f"grant-{user.pk}")
    queued = GenerationJobFactory(user=user, status=JobStatus.QUEUED)
    running = GenerationJobFactory(user=user, status=JobStatus.RUNNING)

    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202

    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.status == JobStatus.CANCELED
    assert (running.status, running.cancel_requested) == (JobStatus.RUNNING, True)


# --- cancel ---------------------------------------------------------------------------------------

@pytest.fixture
def pending(auth_api, user) -> AccountDeletion:
    assert auth_api.post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202
    return AccountDeletion.objects.get(user=user)


def test_cancel_within_the_grace_period_restores_the_account_and_signs_in(api, user, pending):
    response = api.post(CANCEL, {"email": user.email.upper(), "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["user"]["id"] == user.pk
    user.refresh_from_db()
    assert user.is_active is True
    assert not AccountDeletion.objects.filter(pk=pending.pk).exists()
    assert api.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}).status_code == 200
    # Nothing is left for the purge.
    assert accounts_purge_due(now=timezone.now() + timedelta(days=30)) == {"purged": 0, "held": 0, "skipped": 0}


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "reauth_required"),
    ({"email": "who@example.com"}, 400, "reauth_required"),
    ({"email": "nobody@example.com", "password": DEFAULT_PASSWORD}, 403, "reauth_failed"),
    ({"password": "wrong-password-1"}, 403, "reauth_failed"),
])
def test_a_cancel_without_the_right_credentials_changes_nothing(api, user, pending, body, status, code):
    if body.get("password") == "wrong-password-1":
        body = {**body, "email": user.email}

    response = api.post(CANCEL, body, format="json")

    assert (response.status_code, _code(response)) == (status, code)
    user.refresh_from_db()
    assert user.is_active is False
    assert AccountDeletion.objects.filter(pk=pending.pk, purged_at__isnull=True).exists()


def test_a_cancel_cannot_lift_a_suspension_staff_made_during_the_grace_period(api, user, pending):
    user_suspend(user_id=user.pk)

    response = api.post(CANCEL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert (response.status_code, _code(response)) == (403, "account_suspended")
    assert User.objects.get(pk=user.pk).is_active is False
    assert AccountDeletion.objects.filter(pk=pending.pk, purged_at__isnull=True).exists()


def test_a_cancel_after_the_grace_period_is_409_and_changes_nothing(api, user, pending):
    _due(pending)

    response = api.post(CANCEL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert (response.status_code, _code(response)) == (409, "deletion_grace_over")
    user.refresh_from_db()
    assert user.is_active is False


def test_a_cancel_for_an_account_not_being_deleted_is_409(api, user):
    response = api.post(CANCEL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert (response.status_code, _code(response)) == (409, "deletion_not_pending")


def test_a_cancel_by_a_fresh_firebase_sign_in(api, client_for, firebase_emulator):
    user = UserFactory(firebase_uid="fb-4")
    assert client_for(user).post(DELETE, {"id_token": _firebase_token("fb-4")}, format="json").status_code == 202

    stale = api.post(CANCEL, {"id_token": _firebase_token("fb-4", signed_in_ago=600)}, format="json")
    fresh = api.post(CANCEL, {"id_token": _firebase_token("fb-4")}, format="json")

    assert (stale.status_code, _code(stale)) == (403, "reauth_stale")
    assert fresh.status_code == 200
    user.refresh_from_db()
    assert user.is_active is True


# --- the purge ------------------------------------------------------------------------------------

def test_the_purge_waits_for_the_grace_period(user, pending):
    assert account_purge(deletion_id=pending.pk) == "skipped"
    assert accounts_purge_due() == {"purged": 0, "held": 0, "skipped": 0}
    assert User.objects.filter(pk=user.pk).exists()


def _rich_account(media):
    """A person with something in every app, and others around them."""
    person = UserFactory(handle="Mia_Tan")
    other, fan = UserFactory(), UserFactory()
    ledger.credits_grant(user_id=person.pk, amount=100, key=f"signup-{person.pk}")
    # Posts: a plain one, one remixed by someone else (a tombstone stays), one deleted earlier.
    plain = PostFactory(author=person, caption="#boats at sea")
    remixed = PostFactory(author=person, caption="the original")
    remix = PostFactory(author=other, parent=remixed, root=remixed, lineage=[remixed.pk])
    Post.objects.filter(pk=remixed.pk).update(remixes_count=1)
    job_video = default_storage.save(f"generation/{person.pk}/video.mp4", ContentFile(b"mp4"))
    GenerationJob.objects.filter(pk=plain.generation_id).update(video=job_video)
    # Engagement on others' posts, and others' on theirs.
    theirs = PostFactory(author=other)
    Like.objects.create(user=person, post=theirs)
    Post.objects.filter(pk=theirs.pk).update(likes_count=2, comments_count=3)
    top = CommentFactory(post=theirs, author=person)
    CommentFactory(post=theirs, author=fan, parent=top)  # a reply under their comment goes with it
    fans_top = CommentFactory(post=theirs, author=fan)
    CommentFactory(post=theirs, author=person, parent=fans_top)
    Comment.objects.filter(pk=fans_top.pk).update(replies_count=1)
    CommentFactory(post=plain, author=fan)
    FollowFactory(follower=person, followee=other)
    FollowFactory(follower=fan, followee=person)
    User.objects.filter(pk=other.pk).update(followers_count=1)
    User.objects.filter(pk=fan.pk).update(following_count=1)
    User.objects.filter(pk=person.pk).update(followers_count=1, following_count=1)
    Block.objects.create(blocker=person, blocked=UserFactory())
    notify(user_id=other.pk, type="user.followed", actor_id=person.pk, group_key="user.followed:x")
    DeviceFactory(user=person)
    avatar = default_storage.save(f"avatars/{person.pk}.jpg", ContentFile(b"jpg"))
    User.objects.filter(pk=person.pk).update(avatar=avatar)
    clip = default_storage.save(f"cameos/{person.pk}/clip.mp4", ContentFile(b"clip"))
    Cameo.objects.create(owner=person, name="Mia", status=CameoStatus.VERIFIED, clip=clip)
    # A data export they asked for: the row and its archive go.
    archive = default_storage.save(f"exports/{person.pk}/x.zip", ContentFile(b"zip"))
    AccountExport.objects.create(user=person, status=AccountExport.Status.READY, file=archive)
    # Money: a confirmed-to-end Stripe subscription, creator rewards in cash and credits.
    SubscriptionFactory(user=person, cancel_at_period_end=True)
    profile = CreatorProfileFactory(user=person)
    cash = CampaignFactory(budget_kind=Campaign.BudgetKind.CASH, currency="usd")
    enrolment = EnrolmentFactory(campaign=cash, user=person)
    task = publish_task(cash, reward=700)
    Reward.objects.create(campaign=cash, task=task, enrolment=enrolment, user=person, kind="cash", currency="usd",
                          amount=700)
    return {"person": person, "other": other, "fan": fan, "plain": plain, "remixed": remixed, "remix": remix,
            "theirs": theirs, "files": [job_video, avatar, clip, archive], "profile": profile}


def _rows_naming(user_id: int) -> list[str]:
    """Every row of every model whose foreign key to the user model holds `user_id`."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is get_user_model():
                if model._default_manager.filter(**{field.attname: user_id}).exists():
                    found.append(f"{model._meta.label}.{field.name}")
    return found


def test_a_purged_account_leaves_no_row_naming_the_person(media, client_for, django_capture_on_commit_callbacks):
    world = _rich_account(media)
    person = world["person"]
    assert client_for(person).post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202
    deletion = AccountDeletion.objects.get(user=person)
    _due(deletion)

    with django_capture_on_commit_callbacks(execute=True):
        assert accounts_purge_due() == {"purged": 1, "held": 0, "skipped": 0}

    assert not User.objects.filter(pk=person.pk).exists()
    assert _rows_naming(person.pk) == []
    deletion.refresh_from_db()
    placeholder = deletion.placeholder
    assert deletion.purged_at is not None and deletion.user_id is None
    assert (placeholder.email, placeholder.display_name, placeholder.is_active, placeholder.has_usable_password()) \
        == (None, "", False, False)
    assert placeholder.handle.startswith("deleted_") and "mia" not in placeholder.handle.lower()
    # Kept, anonymised: the ledger, the payment mirror, the rewards and their payout (recorded).
    # (the account's sign-up grant and the one above)
    assert list(CreditEntry.objects.filter(user=placeholder).values_list("kind", "available_delta")) == \
        [("grant", 100), ("grant", 100)]
    assert CreditAccount.objects.get(user=placeholder).available == 200
    assert Subscription.objects.filter(user=placeholder).count() == 1
    payout, = Payout.objects.filter(user=placeholder)
    assert (payout.amount, payout.method, payout.status) == (700, "manual", "exported")
    assert Reward.objects.get(user=placeholder).payout_id == payout.pk
    # The remixed post stays as a tombstone that says nothing about the person; the lineage holds.
    tomb = Post.objects.get(pk=world["remixed"].pk)
    assert (tomb.author_id, tomb.status, tomb.caption, tomb.hashtags, tomb.generation_id) == \
        (placeholder.pk, PostStatus.DELETED, "", [], None)
    world["remix"].refresh_from_db()
    assert (world["remix"].parent_id, world["remix"].lineage) == (tomb.pk, [tomb.pk])
    assert not Post.objects.filter(pk=world["plain"].pk).exists()
    # Counters others see are right again.
    theirs = Post.objects.get(pk=world["theirs"].pk)
    assert (theirs.likes_count, theirs.comments_count) == (1, 0)
    assert Comment.objects.filter(post=theirs).count() == 1  # the fan's own comment, its reply gone
    assert Comment.objects.get(post=theirs).replies_count == 0
    assert User.objects.get(pk=world["other"].pk).followers_count == 0
    assert User.objects.get(pk=world["fan"].pk).following_count == 0
    assert not Notification.objects.filter(user=world["other"]).exists()
    # Stored media is gone.
    assert [name for name in world["files"] if default_storage.exists(name)] == []
    assert not Cameo.objects.exists()
    assert not Follow.objects.exists()


def test_the_handle_stays_reserved(settings, api, client_for, user):
    settings.ACCOUNT_HANDLE_RESERVED_DAYS = 365
    handle = user.handle
    assert client_for(user).post(DELETE, {"password": DEFAULT_PASSWORD}, format="json").status_code == 202
    deletion = AccountDeletion.objects.get(user=user)
    _due(deletion)
    assert account_purge(deletion_id=deletion.pk) == "purged"

    signup = api.post("/api/v1/auth/signup", {"email": "new@example.com", "password": DEFAULT_PASSWORD,
                                              "handle": handle.upper()}, format="json")
    rename = client_for(UserFactory()).patch("/api/v1/me", {"handle": handle}, format="json")

    assert signup.json()["error"]["fields"]["handle"][0]["code"] == "handle_taken"
    assert rename.json()["error"]["fields"]["handle"][0]["code"] == "handle_taken"
    reservation = HandleReservation.objects.get(handle=handle.lower())
    assert timedelta(days=364) < reservation.reserved_until - timezone.now() <= timedelta(days=365)
    HandleReservation.objects.update(reserved_until=timezone.now() - timedelta(seconds=1))
    later = api.post("/api/v1/auth/signup", {"email": "new@example.com", "password": DEFAULT_PASSWORD,
                                             "handle": handle}, format="json")
    assert later.status_code == 201


def test_a_payout_in_flight_holds_the_purge_until_it_is_settled(user, pending):
    CreatorProfileFactory(user=user)
    payout = Payout.objects.create(user=user, currency="usd", amount=500, method="stripe", status="pending")
    _due(pending)

    assert account_purge(deletion_id=pending.pk) == "held"

    pending.refresh_from_db()
    assert (pending.hold_reason, pending.steps_done, pending.attempts) == ("payout_in_flight", [], 1)
    assert User.objects.filter(pk=user.pk).exists() and Post.objects.filter(author=user).count() == 0
    Payout.objects.filter(pk=payout.pk).update(status="paid")
    assert account_purge(deletion_id=pending.pk) == "purged"
    assert Payout.objects.get(pk=payout.pk).user_id == AccountDeletion.objects.get(pk=pending.pk).placeholder_id


def test_a_running_job_holds_the_purge(user, pending):
    from generation.tests.factories import GenerationJobFactory

    job = GenerationJobFactory(user=user, status=JobStatus.RUNNING)
    post = PostFactory(author=user)
    _due(pending)

    assert account_purge(deletion_id=pending.pk) == "held"

    pending.refresh_from_db()
    assert pending.hold_reason == "generation_running"
    assert Post.objects.filter(pk=post.pk).exists() and GenerationJob.objects.filter(pk=job.pk).exists()
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELED)
    assert account_purge(deletion_id=pending.pk) == "purged"


def test_an_unconfirmed_stripe_cancel_holds_the_purge(settings, user, pending):
    settings.STRIPE_SECRET_KEY = ""  # Stripe cannot be asked: the cancel stays unconfirmed
    SubscriptionFactory(user=user, cancel_at_period_end=False)
    _due(pending)

    assert account_purge(deletion_id=pending.pk) == "held"

    pending.refresh_from_db()
    assert pending.hold_reason == "stripe_cancel_pending"
    assert User.objects.filter(pk=user.pk).exists()
    Subscription.objects.filter(user=user).update(cancel_at_period_end=True)
    assert account_purge(deletion_id=pending.pk) == "purged"


def test_a_purge_that_crashed_halfway_is_finished_by_the_next_run(monkeypatch, user, pending):
    PostFactory(author=user)
    _due(pending)
    steps = {step.name: step for step in registry.purge_steps()}
    real = steps["generation"]

    def crash(ctx):
        raise RuntimeError("worker killed")

    monkeypatch.setitem(registry._STEPS, "generation", registry.PurgeStep(**{**real.__dict__, "purge": crash}))
    with pytest.raises(RuntimeError):
        account_purge(deletion_id=pending.pk)

    pending.refresh_from_db()
    assert (pending.steps_done, pending.claimed_until, pending.purged_at) == (["creators", "feed"], None, None)
    assert not Post.objects.filter(author=user).exists()
    monkeypatch.setitem(registry._STEPS, "generation", real)
    assert account_purge(deletion_id=pending.pk) == "purged"
    assert _rows_naming(user.pk) == []
    pending.refresh_from_db()
    assert pending.steps_done == ["creators", "feed", "generation", "billing", "accounts"]


def test_a_deletion_another_run_holds_is_skipped(user, pending):
    _due(pending)
    AccountDeletion.objects.filter(pk=pending.pk).update(claimed_until=timezone.now() + timedelta(minutes=5))

    assert account_purge(deletion_id=pending.pk) == "skipped"
    assert User.objects.filter(pk=user.pk).exists()


def test_the_steps_run_higher_apps_first():
    assert [step.name for step in registry.purge_steps()] == ["creators", "feed", "generation", "billing"]


def test_every_foreign_key_to_the_user_model_is_handled_by_a_purge_step():
    """A new model pointing at users must say what its purge does: add it to a step's `handles`
    (deleted or nulled) or `anonymises` (kept, pointed at the placeholder)."""
    handled = set(ACCOUNTS_HANDLES) | set(ACCOUNTS_ANONYMISES)
    for step in registry.purge_steps():
        handled |= set(step.handles)
    foreign_keys = {f"{model._meta.label}.{field.name}"
                    for model in apps.get_models(include_auto_created=True)
                    for field in model._meta.get_fields()
                    if field.is_relation and field.concrete and field.related_model is get_user_model()}

    assert sorted(foreign_keys - handled) == []
    assert sorted(handled - foreign_keys) == []


def test_staff_see_pending_deletions_in_the_admin(admin_client, user, pending):
    other = UserFactory()

    users = admin_client.get("/admin/accounts/user/?deletion=pending").content.decode()
    deletions = admin_client.get("/admin/accounts/accountdeletion/?state=pending")

    assert user.handle in users and other.handle not in users
    assert deletions.status_code == 200 and str(user) in deletions.content.decode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deleting_closes_the_open_socket():
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from rest_framework.test import APIClient

    from accounts.consumers import CLOSE_UNAUTHENTICATED
    from accounts.services import tokens_for_user
    from config.asgi import application

    user = await database_sync_to_async(UserFactory)()
    tokens = await database_sync_to_async(tokens_for_user)(user)
    socket = WebsocketCommunicator(application, f"/ws/?token={tokens['access']}")
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = await database_sync_to_async(client.post)(DELETE, {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 202
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "code": "session_ended"}
    assert (await socket.receive_output(timeout=1))["code"] == CLOSE_UNAUTHENTICATED
