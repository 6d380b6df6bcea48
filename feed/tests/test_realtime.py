"""Authors hear about likes, comments and remixes in batches, not one event per like."""

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from config.redis import get_redis
from feed import realtime, services, tasks
from feed.models import RemixSource
from feed.tests.factories import PostFactory
from generation.models import GenerationJob, JobStatus

pytestmark = pytest.mark.django_db

FLUSH = "feed.tasks.flush_engagement"


def flushes(sent_tasks) -> list:
    return [t for t in sent_tasks if t[0] == FLUSH]


@pytest.fixture
def flush(django_capture_on_commit_callbacks):
    """The flush task's work; its event is stored, then sent once that commits."""
    def run(author_id):
        with django_capture_on_commit_callbacks(execute=True):
            return realtime.engagement_flush(author_id=author_id)
    return run


def test_a_burst_of_likes_is_one_event(flush, sent_tasks, events_of, django_capture_on_commit_callbacks, settings):
    settings.FEED_ENGAGEMENT_BATCH_SECONDS = 2.0
    author = UserFactory()
    post = PostFactory(author=author)
    events = events_of(author)
    likers = UserFactory.create_batch(30)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for liker in likers:
            services.like_create(user=liker, post_id=post.pk)

    # Every like recorded after its commit, and the inbox told once (one group, one window)...
    assert len(callbacks) == 31
    assert flushes(sent_tasks) == [(FLUSH, [author.pk], {"countdown": 2.0, "queue": "default"})]  # ...one flush
    assert [e["type"] for e in events()] == ["notification.created"]  # no engagement until the flush

    flush(author.pk)

    assert events() == [{"type": "post.engagement", "seq": 2,
                         "items": [{"post_id": post.pk, "likes": 30, "comments": 0, "remixes": 0}]}]
    assert flush(author.pk) is None
    assert events() == []


def test_likes_comments_and_remixes_of_several_posts_share_one_event(client_for, sent_tasks, events_of,
                                                                     django_capture_on_commit_callbacks):
    author = UserFactory()
    first, second = PostFactory(author=author), PostFactory(author=author)
    events = events_of(author)
    fan, remixer = client_for(UserFactory()), UserFactory()
    remix_job = GenerationJob.objects.create(
        user=remixer, kind="remix", status=JobStatus.SUCCEEDED, prompt="again", duration_seconds=4, width=480,
        height=854, fps=8, seed=1, backend="preview", cost=4, source_job=second.generation,
        video="generation/r/video.mp4")
    RemixSource.objects.create(job=remix_job, post=second)

    with django_capture_on_commit_callbacks(execute=True):
        fan.post(f"/api/v1/posts/{first.pk}/like")
        fan.post(f"/api/v1/posts/{first.pk}/comments", {"body": "wow"})
        fan.post(f"/api/v1/posts/{second.pk}/comments", {"body": "and this"})
        fan.post(f"/api/v1/posts/{second.pk}/comments", {"body": "again"})
        services.post_create(user=remixer, generation_id=remix_job.pk)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.flush_engagement(author.pk) is True

    received = events()
    # Each inbox group is told once (notification.created); the counters go in one event.
    assert [(e["type"], e.get("group_key")) for e in received[:-1]] == [
        ("notification.created", f"post.liked:{first.pk}"), ("notification.created", f"post.commented:{first.pk}"),
        ("notification.created", f"post.commented:{second.pk}"), ("notification.created", f"post.remixed:{second.pk}")]
    assert received[-1] == {"type": "post.engagement", "seq": 5, "items": [
        {"post_id": first.pk, "likes": 1, "comments": 1, "remixes": 0},
        {"post_id": second.pk, "likes": 0, "comments": 2, "remixes": 1},
    ]}
    assert len(flushes(sent_tasks)) == 1


def test_the_next_window_schedules_a_new_flush_and_its_event_has_a_higher_seq(
        flush, client_for, sent_tasks, events_of, django_capture_on_commit_callbacks):
    author = UserFactory()
    post = PostFactory(author=author)
    events = events_of(author)

    with django_capture_on_commit_callbacks(execute=True):
        client_for(UserFactory()).post(f"/api/v1/posts/{post.pk}/like")
    flush(author.pk)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(UserFactory()).post(f"/api/v1/posts/{post.pk}/like")
        client_for(UserFactory()).post(f"/api/v1/posts/{post.pk}/like")
    flush(author.pk)

    engagement = [e for e in events() if e["type"] == "post.engagement"]
    assert [e["items"][0]["likes"] for e in engagement] == [1, 2]
    assert engagement[0]["seq"] < engagement[1]["seq"]
    assert len(flushes(sent_tasks)) == 2


def test_own_engagement_unlikes_and_repeat_likes_send_nothing(flush, auth_api, client_for, sent_tasks, events_of,
                                                              django_capture_on_commit_callbacks):
    post = PostFactory(author=auth_api.user)
    events = events_of(auth_api.user)
    fan = client_for(UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        fan.post(f"/api/v1/posts/{post.pk}/like")
    flush(auth_api.user.pk)
    events()
    sent_tasks.clear()

    with django_capture_on_commit_callbacks(execute=True):
        auth_api.post(f"/api/v1/posts/{post.pk}/like")
        auth_api.post(f"/api/v1/posts/{post.pk}/comments", {"body": "thanks all"})
        fan.post(f"/api/v1/posts/{post.pk}/like")  # already liked
        fan.delete(f"/api/v1/posts/{post.pk}/like")

    assert flush(auth_api.user.pk) is None
    assert events() == []
    assert sent_tasks == []


def test_a_rolled_back_like_is_never_announced(flush, sent_tasks, events_of, django_capture_on_commit_callbacks):
    post = PostFactory()
    events = events_of(post.author)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.like_create(user=UserFactory(), post_id=post.pk)
            raise RuntimeError("the request failed after the like")

    assert callbacks == []
    assert sent_tasks == []
    assert get_redis().exists(f"engage:{post.author_id}") == 0
    assert flush(post.author_id) is None
    assert events() == []
