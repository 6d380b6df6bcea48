"""Remixes: policy at remix time, lineage three deep, the remixes list."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import BlockFactory, FollowFactory, UserFactory
from billing.models import CreditEntry
from feed.models import Post
from feed.tests.factories import PostFactory
from generation.models import GenerationJob, JobKind, JobStatus

pytestmark = pytest.mark.django_db

REMIX = {"prompt": "the same boat, but in space", "duration_seconds": 4, "size": "480x854"}


def remix(client, post_id, **overrides):
    return client.post(f"/api/v1/posts/{post_id}/remix", {**REMIX, **overrides})


def finish(job_id) -> None:
    """What the GPU worker would do; the feed only needs the row to say succeeded with a video."""
    GenerationJob.objects.filter(pk=job_id).update(status=JobStatus.SUCCEEDED, progress=100,
                                                   video=f"generation/x/{job_id}/video.mp4",
                                                   poster=f"generation/x/{job_id}/poster.jpg")


def post_result(client, job_id, **fields) -> dict:
    finish(job_id)
    response = client.post("/api/v1/posts", {"generation_id": job_id, **fields})
    assert response.status_code == 201, response.json()
    return response.json()


def assert_refused(response, status, code, user):
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert not GenerationJob.objects.filter(user=user).exists()
    assert not CreditEntry.objects.filter(user=user, kind="reserve").exists()


def test_remix_chain_three_deep_with_policy_refusals(client_for, sent_tasks):
    alice, bob, carol, dave = (UserFactory(handle=h) for h in ("alice", "bob", "carol", "dave"))
    root = PostFactory(author=alice, remix_policy="everyone")

    started = remix(client_for(bob), root.pk, seed=5)
    assert started.status_code == 201, started.json()
    job = GenerationJob.objects.get(user=bob)
    assert (started.json()["id"], started.json()["kind"], started.json()["source_post_id"]) == \
        (str(job.id), "remix", root.pk)
    assert (job.kind, job.remix_source.post_id, job.source_job_id, job.seed) == \
        (JobKind.REMIX, root.pk, root.generation_id, 5)
    second = post_result(client_for(bob), started.json()["id"], remix_policy="followers")

    # Followers-only remixing: carol does not follow bob yet.
    refused = remix(client_for(carol), second["id"])
    assert_refused(refused, 403, "remix_not_allowed", carol)
    assert refused.json()["error"]["message"] == "The author does not allow remixes of this post."
    FollowFactory(follower=carol, followee=bob)
    started = remix(client_for(carol), second["id"])
    assert started.status_code == 201, started.json()
    third = post_result(client_for(carol), started.json()["id"], remix_policy="nobody")

    assert_refused(remix(client_for(dave), third["id"]), 403, "remix_not_allowed", dave)
    # The author may always remix their own post: the chain goes three remixes deep.
    started = remix(client_for(carol), third["id"])
    assert started.status_code == 201, started.json()
    fourth = post_result(client_for(carol), started.json()["id"])

    assert (second["parent"]["id"], second["root"]["id"]) == (root.pk, root.pk)
    assert third["parent"] == {"id": second["id"], "author": {"handle": "bob", "display_name": bob.display_name},
                               "removed": False}
    assert third["root"] == {"id": root.pk, "author": {"handle": "alice", "display_name": alice.display_name},
                             "removed": False}
    assert (fourth["parent"]["id"], fourth["root"]["id"]) == (third["id"], root.pk)
    assert Post.objects.get(pk=third["id"]).lineage == [root.pk, second["id"]]
    assert Post.objects.get(pk=fourth["id"]).lineage == [root.pk, second["id"], third["id"]]
    counts = dict(Post.objects.values_list("pk", "remixes_count"))
    assert counts == {root.pk: 1, second["id"]: 1, third["id"]: 1, fourth["id"]: 0}

    lineage = client_for(dave).get(f"/api/v1/posts/{fourth['id']}/lineage")
    assert lineage.status_code == 200
    assert [(p["id"], p["author"]["handle"]) for p in lineage.json()["results"]] == \
        [(root.pk, "alice"), (second["id"], "bob"), (third["id"], "carol"), (fourth["id"], "carol")]
    remixes = client_for(dave).get(f"/api/v1/posts/{root.pk}/remixes").json()["results"]
    assert [p["id"] for p in remixes] == [second["id"]]
    render_tasks = [t for t in sent_tasks if t[0] == "generation.tasks.render_generation"]
    assert render_tasks == []  # enqueued on commit only; these tests never commit


def test_nobody_policy_refuses_everyone_but_the_author(client_for, sent_tasks):
    post = PostFactory(remix_policy="nobody")
    follower = UserFactory()
    FollowFactory(follower=follower, followee=post.author)

    assert_refused(remix(client_for(follower), post.pk), 403, "remix_not_allowed", follower)
    assert remix(client_for(post.author), post.pk).status_code == 201


def test_policy_is_checked_at_remix_time(client_for, sent_tasks):
    post = PostFactory(remix_policy="everyone")
    early, late = UserFactory(), UserFactory()
    assert remix(client_for(early), post.pk).status_code == 201

    client_for(post.author).patch(f"/api/v1/posts/{post.pk}", {"remix_policy": "nobody"})

    assert_refused(remix(client_for(late), post.pk), 403, "remix_not_allowed", late)
    assert GenerationJob.objects.filter(user=early).count() == 1


def test_retry_of_a_failed_remix_rechecks_the_policy(client_for, sent_tasks):
    post = PostFactory(remix_policy="everyone")
    remixer = UserFactory()
    job_id = remix(client_for(remixer), post.pk).json()["id"]
    GenerationJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error_code="boom")
    Post.objects.filter(pk=post.pk).update(remix_policy="nobody")

    response = client_for(remixer).post(f"/api/v1/generations/{job_id}/retry")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "remix_not_allowed")
    assert GenerationJob.objects.filter(user=remixer).count() == 1


@pytest.mark.parametrize("case", ["private", "followers_only", "blocked_by_author", "blocking_author", "hidden",
                                  "missing"])
def test_posts_you_cannot_see_cannot_be_remixed(client_for, sent_tasks, case):
    viewer = UserFactory()
    post = PostFactory(remix_policy="everyone")
    if case == "private":
        Post.objects.filter(pk=post.pk).update(visibility="private")
    elif case == "followers_only":
        Post.objects.filter(pk=post.pk).update(visibility="followers")
    elif case == "blocked_by_author":
        BlockFactory(blocker=post.author, blocked=viewer)
    elif case == "blocking_author":
        BlockFactory(blocker=viewer, blocked=post.author)
    elif case == "hidden":
        Post.objects.filter(pk=post.pk).update(status="hidden")
    post_id = post.pk if case != "missing" else post.pk + 1000

    assert_refused(remix(client_for(viewer), post_id), 404, "post_not_found", viewer)


def test_a_remix_posted_after_its_parent_became_a_tombstone_keeps_the_lineage(client_for, sent_tasks):
    original = PostFactory()
    sibling = PostFactory(parent=original, root=original, lineage=[original.pk])
    Post.objects.filter(pk=original.pk).update(remixes_count=1)
    remixer = UserFactory()
    job_id = remix(client_for(remixer), original.pk).json()["id"]
    client_for(original.author).delete(f"/api/v1/posts/{original.pk}")

    posted = post_result(client_for(remixer), job_id)

    assert posted["parent"] == {"id": original.pk, "author": None, "removed": True}
    assert Post.objects.get(pk=posted["id"]).lineage == [original.pk]
    assert Post.objects.get(pk=original.pk).status == "deleted"  # kept as a tombstone for `sibling`
    assert sorted(Post.objects.filter(parent=original).values_list("pk", flat=True)) == \
        sorted([sibling.pk, posted["id"]])


def make_remixes(parent, likes: list[int]) -> list[Post]:
    now = timezone.now()
    return [PostFactory(parent=parent, root=parent, lineage=[parent.pk], likes_count=n,
                        created_at=now - timedelta(minutes=len(likes) - i)) for i, n in enumerate(likes)]


def test_remixes_sorted_new_and_top_with_cursor_pages(client_for):
    parent = PostFactory()
    a, b, c, d = make_remixes(parent, [5, 9, 1, 9])  # d is the newest
    PostFactory()  # not a remix
    viewer = client_for(UserFactory())
    url = f"/api/v1/posts/{parent.pk}/remixes"

    def walk(sort):
        response = viewer.get(url, {"sort": sort, "page_size": 3})
        pages = [[p["id"] for p in response.json()["results"]]]
        while response.json()["next"]:
            response = viewer.get(response.json()["next"])
            pages.append([p["id"] for p in response.json()["results"]])
        return pages

    assert walk("new") == [[d.pk, c.pk, b.pk], [a.pk]]
    assert walk("top") == [[d.pk, b.pk, a.pk], [c.pk]]
    bad = viewer.get(url, {"sort": "hot"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")


def test_remixes_list_applies_visibility_and_blocks(client_for):
    parent = PostFactory()
    viewer = UserFactory()
    public, private, blocked = make_remixes(parent, [0, 0, 0])
    Post.objects.filter(pk=private.pk).update(visibility="private")
    BlockFactory(blocker=blocked.author, blocked=viewer)

    results = client_for(viewer).get(f"/api/v1/posts/{parent.pk}/remixes").json()["results"]

    assert [p["id"] for p in results] == [public.pk]


def test_lineage_shows_ancestors_you_cannot_see_as_removed(client_for):
    viewer = UserFactory()
    root = PostFactory()
    middle = PostFactory(parent=root, root=root, lineage=[root.pk])
    leaf = PostFactory(parent=middle, root=root, lineage=[root.pk, middle.pk])
    BlockFactory(blocker=viewer, blocked=middle.author)
    Post.objects.filter(pk=root.pk).update(status="removed")

    chain = client_for(viewer).get(f"/api/v1/posts/{leaf.pk}/lineage").json()["results"]

    assert chain[:2] == [{"id": root.pk, "removed": True}, {"id": middle.pk, "removed": True}]
    assert chain[2]["id"] == leaf.pk and chain[2]["author"]["handle"] == leaf.author.handle


def test_staff_retry_of_a_failed_remix_goes_through_feed(client_for, sent_tasks, admin_client):
    post = PostFactory(remix_policy="everyone")
    remixer, refused_remixer = UserFactory(), UserFactory()
    job_id = remix(client_for(remixer), post.pk).json()["id"]
    other_id = remix(client_for(refused_remixer), post.pk).json()["id"]
    GenerationJob.objects.filter(pk__in=[job_id, other_id]).update(status=JobStatus.FAILED, error_code="boom")
    BlockFactory(blocker=post.author, blocked=refused_remixer)

    admin_client.post("/admin/generation/generationjob/", {"action": "retry_jobs",
                                                           "_selected_action": [job_id, other_id]})

    retried = GenerationJob.objects.get(retry_of_id=job_id)
    assert (retried.user, retried.kind, retried.remix_source.post_id) == (remixer, JobKind.REMIX, post.pk)
    # The author blocked the other remixer since: the source post is checked again, no new job.
    assert not GenerationJob.objects.filter(retry_of_id=other_id).exists()


def test_a_remix_repeated_with_its_idempotency_key_is_one_job_and_a_bad_key_is_refused(client_for, sent_tasks):
    post, remixer = PostFactory(remix_policy="everyone"), UserFactory()
    client = client_for(remixer)

    first = client.post(f"/api/v1/posts/{post.pk}/remix", REMIX, HTTP_IDEMPOTENCY_KEY="tap-1")
    again = client.post(f"/api/v1/posts/{post.pk}/remix", REMIX, HTTP_IDEMPOTENCY_KEY="tap-1")
    too_long = client.post(f"/api/v1/posts/{post.pk}/remix", REMIX, HTTP_IDEMPOTENCY_KEY="k" * 129)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (400, "validation_error")
    assert too_long.json()["error"]["fields"]["Idempotency-Key"][0]["code"] == "idempotency_key_invalid"
    assert GenerationJob.objects.filter(user=remixer).count() == 1
