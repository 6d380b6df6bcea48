"""Unfollow and block change cameo consent like the owner's own changes do: jobs that lack it
now are canceled (credits released), posts taken down; re-follow and unblock bring posts back."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.cameos.models import CameoGrant, CameoLevel, GrantStatus
from accounts.models import Follow
from accounts.tests.factories import UserFactory
from billing.selectors import credit_balance
from feed.models import Post, PostStatus
from feed.tests.factories import PostFactory, SucceededJobFactory
from generation.models import GenerationJob, JobStatus
from tests.test_cameos import submit, verified_cameo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, sent_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8
    settings.CREDITS_SIGNUP_GRANT = 100


def mutuals(a, b):
    account_services.follow_create(follower=a, followee=b)
    account_services.follow_create(follower=b, followee=a)


def posted_with(author, cameo):
    job = SucceededJobFactory(user=author)
    job.cameos.set([cameo])
    return PostFactory(author=author, generation=job)


def status_of(*objs):
    return [type(o).objects.get(pk=o.pk).status for o in objs]


@pytest.mark.parametrize("who_unfollows", ["owner", "friend"])
def test_an_unfollow_ends_mutual_consent_cancels_jobs_and_takes_posts_down(who_unfollows):
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.MUTUALS)
    mutuals(owner, friend)
    queued = submit(friend, cameo_ids=[cameo.pk])
    post = posted_with(friend, cameo)
    own = submit(owner, cameo_ids=[cameo.pk], prompt="my own lake")
    before = credit_balance(user_id=friend.pk).available

    if who_unfollows == "owner":
        account_services.follow_delete(follower=owner, followee=friend)
    else:
        account_services.follow_delete(follower=friend, followee=owner)

    assert status_of(queued, own) == [JobStatus.CANCELED, JobStatus.QUEUED]
    assert GenerationJob.objects.get(pk=queued.pk).error_code == "cameo_consent_revoked"
    assert credit_balance(user_id=friend.pk).available == before + queued.cost
    assert Post.objects.get(pk=post.pk).status == PostStatus.TAKEN_DOWN
    assert Post.objects.get(pk=post.pk).takedown_reason == f"cameo_consent:{cameo.pk}"


def test_following_back_restores_the_posts_but_not_the_canceled_jobs():
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.MUTUALS)
    mutuals(owner, friend)
    queued = submit(friend, cameo_ids=[cameo.pk])
    post = posted_with(friend, cameo)
    account_services.follow_delete(follower=owner, followee=friend)

    account_services.follow_create(follower=owner, followee=friend)

    assert Post.objects.get(pk=post.pk).status == PostStatus.ACTIVE
    assert Post.objects.get(pk=post.pk).takedown_reason == ""
    assert GenerationJob.objects.get(pk=queued.pk).status == JobStatus.CANCELED


def test_an_unfollow_leaves_consent_that_never_needed_the_follow():
    owner, approved, fan = UserFactory(), UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.MUTUALS)
    everyone = verified_cameo(fan, level=CameoLevel.EVERYONE, name="Fan")
    mutuals(owner, approved)
    account_services.follow_create(follower=fan, followee=owner)
    CameoGrant.objects.create(cameo=cameo, user=approved, status=GrantStatus.APPROVED)
    jobs = [submit(approved, cameo_ids=[cameo.pk]), submit(owner, cameo_ids=[everyone.pk], prompt="fan's lake")]
    posts = [posted_with(approved, cameo), posted_with(owner, everyone)]
    balances = [credit_balance(user_id=u.pk).available for u in (approved, owner)]

    account_services.follow_delete(follower=owner, followee=approved)
    account_services.follow_delete(follower=fan, followee=owner)

    assert status_of(*jobs) == [JobStatus.QUEUED, JobStatus.QUEUED]
    assert status_of(*posts) == [PostStatus.ACTIVE, PostStatus.ACTIVE]
    assert [credit_balance(user_id=u.pk).available for u in (approved, owner)] == balances


def test_unfollowing_someone_not_followed_changes_nothing():
    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.MUTUALS)
    account_services.follow_create(follower=friend, followee=owner)  # friend follows, owner does not follow back
    job = submit(owner, cameo_ids=[cameo.pk])

    account_services.follow_delete(follower=owner, followee=friend)

    assert Follow.objects.filter(follower=friend, followee=owner).count() == 1
    assert status_of(job) == [JobStatus.QUEUED]


@pytest.mark.parametrize("who_blocks", ["owner", "user"])
def test_a_block_either_way_ends_even_approved_consent_and_unblock_restores_posts(who_blocks):
    owner, user = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.EVERYONE)
    CameoGrant.objects.create(cameo=cameo, user=user, status=GrantStatus.APPROVED)
    running = submit(user, cameo_ids=[cameo.pk])
    GenerationJob.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, lease_owner="w", attempts=1)
    post = posted_with(user, cameo)
    bystander_post = posted_with(UserFactory(), cameo)
    before = credit_balance(user_id=user.pk).available
    blocker, blocked = (owner, user) if who_blocks == "owner" else (user, owner)

    account_services.block_create(blocker=blocker, blocked=blocked)

    assert status_of(running) == [JobStatus.CANCELED]
    assert credit_balance(user_id=user.pk).available == before + running.cost
    assert status_of(post, bystander_post) == [PostStatus.TAKEN_DOWN, PostStatus.ACTIVE]

    account_services.block_delete(blocker=blocker, blocked=blocked)

    assert status_of(post, bystander_post) == [PostStatus.ACTIVE, PostStatus.ACTIVE]
    assert status_of(running) == [JobStatus.CANCELED]
