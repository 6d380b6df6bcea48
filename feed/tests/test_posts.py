"""Posting a generation, editing, deleting, tombstones."""

import pytest
from django.conf import settings

from accounts.tests.factories import UserFactory
from config.media import media_name_from_token
from feed.models import Hashtag, Post, PostHashtag, PostStatus
from feed.tests.factories import PostFactory, SucceededJobFactory
from generation.models import JobStatus
from generation.tests.factories import GenerationJobFactory

PUBLIC_BASE_URL = settings.PUBLIC_BASE_URL.rstrip("/")

pytestmark = pytest.mark.django_db

URL = "/api/v1/posts"


def tag_counts() -> dict[str, int]:
    return dict(Hashtag.objects.values_list("tag", "posts_count"))


def test_post_own_succeeded_generation(auth_api):
    job = SucceededJobFactory(user=auth_api.user)

    response = auth_api.post(URL, {"generation_id": str(job.id), "caption": "Sunset #Corgi #surf #corgi",
                                   "visibility": "followers", "remix_policy": "nobody", "language": "fr"})

    assert response.status_code == 201, response.json()
    post = Post.objects.get()
    data = response.json()
    assert data["id"] == post.pk
    assert (data["caption"], data["hashtags"], data["language"], data["visibility"], data["remix_policy"]) == \
        ("Sunset #Corgi #surf #corgi", ["corgi", "surf"], "fr", "followers", "nobody")
    assert data["author"]["handle"] == auth_api.user.handle
    assert data["video_url"].startswith(PUBLIC_BASE_URL + "/api/v1/media/")
    assert data["poster_url"].startswith(PUBLIC_BASE_URL + "/api/v1/media/")
    assert data["duration_seconds"] == 4.0
    assert data["counts"] == {"likes": 0, "comments": 0, "remixes": 0, "views": 0, "shares": 0}
    assert (data["liked"], data["parent"], data["root"]) == (False, None, None)
    assert (post.generation_id, post.region, post.lineage) == (job.id, "US", [])
    assert tag_counts() == {"corgi": 1, "surf": 1}
    assert PostHashtag.objects.filter(post=post).count() == 2


def test_language_is_detected_from_a_long_caption_and_falls_back_to_the_locale():
    author = UserFactory(locale="pt-BR")
    from feed import services

    spanish = services.post_create(user=author, generation_id=SucceededJobFactory(user=author).id,
                                   caption="El perro corre feliz por la playa mientras el sol se pone #perro")
    short = services.post_create(user=author, generation_id=SucceededJobFactory(user=author).id, caption="#wow ok")

    assert spanish.language == "es"
    assert short.language == "pt"


@pytest.mark.parametrize(("which", "status", "code"), [
    ("someone_elses", 404, "generation_not_found"),
    ("running", 409, "generation_not_ready"),
    ("failed", 409, "generation_not_ready"),
    ("succeeded_without_video", 409, "generation_not_ready"),
])
def test_only_own_finished_generations_can_be_posted(auth_api, which, status, code):
    job = {
        "someone_elses": lambda: SucceededJobFactory(),
        "running": lambda: GenerationJobFactory(user=auth_api.user, status=JobStatus.RUNNING),
        "failed": lambda: GenerationJobFactory(user=auth_api.user, status=JobStatus.FAILED),
        "succeeded_without_video": lambda: GenerationJobFactory(user=auth_api.user, status=JobStatus.SUCCEEDED),
    }[which]()

    response = auth_api.post(URL, {"generation_id": str(job.id), "caption": "#nope"})

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Post.objects.count() == 0
    assert Hashtag.objects.count() == 0


def test_a_generation_is_posted_once(auth_api):
    job = SucceededJobFactory(user=auth_api.user)

    first = auth_api.post(URL, {"generation_id": str(job.id), "caption": "#one"})
    second = auth_api.post(URL, {"generation_id": str(job.id), "caption": "#one"})

    assert first.status_code == 201
    assert (second.status_code, second.json()["error"]["code"]) == (409, "already_posted")
    assert Post.objects.count() == 1
    assert tag_counts() == {"one": 1}


def test_bad_visibility_is_a_validation_error(auth_api):
    job = SucceededJobFactory(user=auth_api.user)

    response = auth_api.post(URL, {"generation_id": str(job.id), "visibility": "friends"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["visibility"][0]["code"] == "invalid_choice"
    assert Post.objects.count() == 0


def test_edit_caption_moves_hashtags(auth_api):
    job = SucceededJobFactory(user=auth_api.user)
    post_id = auth_api.post(URL, {"generation_id": str(job.id), "caption": "#cats #dogs"}).json()["id"]

    response = auth_api.patch(f"{URL}/{post_id}", {"caption": "now #dogs and #birds"})

    assert response.status_code == 200, response.json()
    assert (response.json()["caption"], response.json()["hashtags"]) == ("now #dogs and #birds", ["dogs", "birds"])
    assert tag_counts() == {"cats": 0, "dogs": 1, "birds": 1}
    assert sorted(PostHashtag.objects.filter(post_id=post_id).values_list("hashtag__tag", flat=True)) == \
        ["birds", "dogs"]
    assert auth_api.get("/api/v1/hashtags/cats/posts").json()["results"] == []
    assert [p["id"] for p in auth_api.get("/api/v1/hashtags/birds/posts").json()["results"]] == [post_id]


def test_edit_keeps_counters(auth_api):
    post = PostFactory(author=auth_api.user, likes_count=7, views_count=70)

    auth_api.patch(f"{URL}/{post.pk}", {"visibility": "private"})

    post.refresh_from_db()
    assert (post.visibility, post.likes_count, post.views_count) == ("private", 7, 70)


def test_someone_elses_post_cannot_be_edited_or_deleted(auth_api):
    post = PostFactory(caption="#mine")

    edited = auth_api.patch(f"{URL}/{post.pk}", {"caption": "hacked"})
    deleted = auth_api.delete(f"{URL}/{post.pk}")

    assert (edited.status_code, edited.json()["error"]["code"]) == (404, "post_not_found")
    assert (deleted.status_code, deleted.json()["error"]["code"]) == (404, "post_not_found")
    post.refresh_from_db()
    assert (post.caption, post.status) == ("#mine", PostStatus.ACTIVE)


def test_delete_without_remixes_removes_the_row(auth_api):
    job = SucceededJobFactory(user=auth_api.user)
    post_id = auth_api.post(URL, {"generation_id": str(job.id), "caption": "#gone"}).json()["id"]

    response = auth_api.delete(f"{URL}/{post_id}")

    assert response.status_code == 204
    assert not Post.objects.filter(pk=post_id).exists()
    assert tag_counts() == {"gone": 0}
    assert auth_api.get(f"{URL}/{post_id}").status_code == 404


def test_delete_with_remixes_leaves_a_tombstone_the_remixes_point_at(client_for):
    author, remixer = UserFactory(), UserFactory()
    original = PostFactory(author=author, caption="the original #boat")
    from feed import services

    services._set_hashtags(original, ["boat"])
    original.save()
    remix = PostFactory(author=remixer, parent=original, root=original, lineage=[original.pk])
    Post.objects.filter(pk=original.pk).update(remixes_count=1)

    response = client_for(author).delete(f"{URL}/{original.pk}")

    assert response.status_code == 204
    original.refresh_from_db()
    assert (original.status, original.caption, original.hashtags) == (PostStatus.DELETED, "", [])
    assert tag_counts() == {"boat": 0}
    viewer = client_for(UserFactory())
    assert viewer.get(f"{URL}/{original.pk}").status_code == 404
    shown = viewer.get(f"{URL}/{remix.pk}").json()
    assert shown["parent"] == {"id": original.pk, "author": None, "removed": True}
    assert shown["root"] == {"id": original.pk, "author": None, "removed": True}
    lineage = viewer.get(f"{URL}/{remix.pk}/lineage").json()["results"]
    assert lineage[0] == {"id": original.pk, "removed": True}
    assert lineage[1]["id"] == remix.pk
    # A tombstone is not the author's to delete again, and it never reappears in their list.
    again = client_for(author).delete(f"{URL}/{original.pk}")
    assert again.status_code == 404
    assert Post.objects.filter(pk=original.pk, status=PostStatus.DELETED).exists()
    assert client_for(author).get(f"/api/v1/users/{author.handle}/posts").json()["results"] == []


def test_deleting_a_remix_gives_back_its_parents_count(client_for):
    original = PostFactory(remixes_count=1)
    remix = PostFactory(parent=original, root=original, lineage=[original.pk])

    response = client_for(remix.author).delete(f"{URL}/{remix.pk}")

    assert response.status_code == 204
    original.refresh_from_db()
    assert original.remixes_count == 0
    assert (original.status, Post.objects.filter(pk=remix.pk).exists()) == (PostStatus.ACTIVE, False)


def test_unauthenticated_requests_are_401(api):
    post = PostFactory()

    assert api.get(f"{URL}/{post.pk}").status_code == 401
    assert api.post(f"{URL}/{post.pk}/like").status_code == 401
    assert post.likes.count() == 0


def test_unknown_hashtag_is_404(auth_api):
    response = auth_api.get("/api/v1/hashtags/neverused/posts")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "hashtag_not_found")
    assert Hashtag.objects.count() == 0


def test_post_card_matches_the_declared_serializer_fields(rf):
    """PostSerializer builds its dict by hand for speed; DRF's own field walk must give the same."""
    from rest_framework import serializers as drf

    from feed import selectors
    from feed.models import Like
    from feed.serializers import PostSerializer

    viewer = UserFactory()
    author = UserFactory(avatar="avatars/a.png", display_name="Ana")
    root = PostFactory(author=author, caption="root #one", hashtags=["one"])
    hidden_parent = PostFactory(author=author, parent=root, root=root, lineage=[root.pk], visibility="private")
    post = PostFactory(author=author, parent=hidden_parent, root=root, lineage=[root.pk, hidden_parent.pk],
                       likes_count=3, views_count=7, comments_count=1)
    Like.objects.create(user=viewer, post=post)
    card = selectors.post_card(viewer=viewer, post_id=post.pk)
    context = {"request": rf.get("/")}

    fast = PostSerializer(card, context=context).data
    declared = drf.ModelSerializer.to_representation(PostSerializer(context=context), card)

    assert fast == dict(declared)
    assert list(fast) == list(declared)
    assert fast["liked"] is True
    assert media_name_from_token(fast["author"]["avatar_url"].rsplit("/", 1)[1]) == "avatars/a.png"
    assert fast["parent"] == {"id": hidden_parent.pk, "author": None, "removed": True}  # private: removed for viewer
    assert fast["root"] == {"id": root.pk, "author": {"handle": author.handle, "display_name": "Ana"},
                            "removed": False}
