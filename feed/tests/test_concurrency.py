"""Counters stay exact when requests race, against real PostgreSQL transactions."""

import pytest

from accounts.tests.factories import UserFactory
from config.errors import NotFound
from feed import services
from feed.models import Comment, Like, ModerationAction, Post, PostStatus, Report
from feed.tests.factories import CommentFactory, EstablishedUserFactory, PostFactory
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_likes_from_many_users_are_all_counted(sent_tasks):
    post = PostFactory()
    likers = [UserFactory() for _ in range(10)]

    at_once([lambda u=u: services.like_create(user=u, post_id=post.pk) for u in likers])

    post.refresh_from_db()
    assert post.likes_count == 10
    assert Like.objects.filter(post=post).count() == 10


def test_concurrent_likes_and_unlikes_of_one_user_count_once(sent_tasks):
    post = PostFactory()
    liker = UserFactory()

    at_once([lambda: services.like_create(user=liker, post_id=post.pk) for _ in range(6)])
    post.refresh_from_db()
    assert (post.likes_count, Like.objects.count()) == (1, 1)

    at_once([lambda: services.like_delete(user=liker, post_id=post.pk) for _ in range(6)])
    post.refresh_from_db()
    assert (post.likes_count, Like.objects.count()) == (0, 0)


def test_concurrent_comments_and_deletes_keep_the_counts(sent_tasks):
    post = PostFactory()
    commenters = [UserFactory() for _ in range(8)]
    top = CommentFactory(post=post, author=commenters[0])
    Post.objects.filter(pk=post.pk).update(comments_count=1)

    at_once([lambda u=u: services.comment_create(user=u, post_id=post.pk, body="hi", parent_id=top.pk)
          for u in commenters])
    post.refresh_from_db()
    top.refresh_from_db()
    assert (post.comments_count, top.replies_count, Comment.objects.count()) == (9, 8, 9)

    # A reply deleted while its thread is deleted: both go, the count comes down by exactly 9.
    # When the thread's delete lands first, the reply is already gone: a 404 for its author.
    reply = Comment.objects.filter(parent=top).first()

    def delete_reply() -> str:
        try:
            services.comment_delete(user=reply.author, comment_id=reply.pk)
        except NotFound:
            return "already gone"
        return "deleted"

    outcomes = at_once([delete_reply, lambda: services.comment_delete(user=post.author, comment_id=top.pk)])
    post.refresh_from_db()
    assert outcomes[0] in ("deleted", "already gone")
    assert (post.comments_count, Comment.objects.count()) == (0, 0)


def test_the_same_comment_deleted_twice_at_once_counts_once(sent_tasks):
    post = PostFactory()
    comment, kept = CommentFactory(post=post), CommentFactory(post=post)
    Post.objects.filter(pk=post.pk).update(comments_count=2)

    outcomes = []

    def delete(user):
        try:
            services.comment_delete(user=user, comment_id=comment.pk)
            outcomes.append("deleted")
        except NotFound:
            outcomes.append("not_found")

    at_once([lambda: delete(comment.author), lambda: delete(post.author), lambda: delete(comment.author)])

    post.refresh_from_db()
    assert post.comments_count == 1
    assert list(Comment.objects.values_list("pk", flat=True)) == [kept.pk]
    assert len(outcomes) == 3


def test_concurrent_reports_hide_the_post_once(settings, sent_tasks):
    settings.FEED_REPORT_HIDE_THRESHOLD = 3
    post = PostFactory()
    reporters = [EstablishedUserFactory() for _ in range(5)]

    outcomes = []

    def report(user):
        try:
            services.report_create(user=user, post_id=post.pk, reason="spam")
            outcomes.append("reported")
        except NotFound:
            outcomes.append("hidden_already")

    at_once([lambda u=u: report(u) for u in reporters])

    post.refresh_from_db()
    assert post.status == PostStatus.HIDDEN
    assert post.reports_count == Report.objects.count() == outcomes.count("reported")
    assert outcomes.count("reported") >= 3
    assert list(ModerationAction.objects.values_list("action", flat=True)) == ["auto_hide"]
