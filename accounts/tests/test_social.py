import io

import pytest
from PIL import Image

from accounts.models import Block, Device, Follow, User
from accounts.tests.factories import BlockFactory, DeviceFactory, FollowFactory, UserFactory
from config.media import media_name_from_token

pytestmark = pytest.mark.django_db


def test_me_patch_updates_profile(auth_api):
    response = auth_api.patch("/api/v1/me", {"display_name": "New Name", "bio": "hi", "country": "jp"})

    assert response.status_code == 200
    assert response.json()["display_name"] == "New Name"
    auth_api.user.refresh_from_db()
    assert (auth_api.user.display_name, auth_api.user.bio, auth_api.user.country) == ("New Name", "hi", "JP")


def test_me_patch_handle_taken_changes_nothing(auth_api):
    UserFactory(handle="Taken")
    before = auth_api.user.handle

    response = auth_api.patch("/api/v1/me", {"handle": "taken", "bio": "changed"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["handle"][0]["code"] == "handle_taken"
    auth_api.user.refresh_from_db()
    assert auth_api.user.handle == before
    assert auth_api.user.bio == ""


def _png(size=(32, 32)) -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format="PNG")
    buf.seek(0)
    buf.name = "avatar.png"
    return buf


def test_me_avatar_upload_and_non_image_refused(auth_api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)

    bad = io.BytesIO(b"this is not an image")
    bad.name = "avatar.png"
    refused = auth_api.patch("/api/v1/me", {"avatar": bad}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["avatar"][0]["code"] == "invalid_image"
    auth_api.user.refresh_from_db()
    assert not auth_api.user.avatar

    ok = auth_api.patch("/api/v1/me", {"avatar": _png()}, format="multipart")
    assert ok.status_code == 200
    assert ok.json()["avatar_url"].startswith(settings.PUBLIC_BASE_URL.rstrip("/") + "/api/v1/media/")
    assert media_name_from_token(ok.json()["avatar_url"].rsplit("/", 1)[1]).startswith("avatars/")
    auth_api.user.refresh_from_db()
    assert (tmp_path / auth_api.user.avatar.name).exists()


def test_me_requires_authentication(api):
    response = api.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_bearer_token_gets_error_shape(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer nonsense")

    response = api.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_public_profile_hides_private_fields(auth_api):
    other = UserFactory(handle="Zed", birth_year=1990)

    response = auth_api.get("/api/v1/users/zed")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == other.pk
    assert body["handle"] == "Zed"
    assert "email" not in body and "birth_year" not in body
    assert body["is_following"] is False


def test_unknown_profile_is_404(auth_api):
    response = auth_api.get("/api/v1/users/nobody_here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"


def test_follow_and_unfollow_keep_counts_exact(auth_api):
    target = UserFactory()

    first = auth_api.post(f"/api/v1/users/{target.handle}/follow")
    repeat = auth_api.post(f"/api/v1/users/{target.handle}/follow")

    assert first.status_code == repeat.status_code == 200
    assert repeat.json()["is_following"] is True
    assert repeat.json()["followers_count"] == 1
    assert Follow.objects.filter(follower=auth_api.user, followee=target).count() == 1
    auth_api.user.refresh_from_db()
    assert auth_api.user.following_count == 1

    gone = auth_api.delete(f"/api/v1/users/{target.handle}/follow")
    again = auth_api.delete(f"/api/v1/users/{target.handle}/follow")
    assert gone.status_code == again.status_code == 200
    assert again.json()["followers_count"] == 0
    target.refresh_from_db()
    auth_api.user.refresh_from_db()
    assert (target.followers_count, auth_api.user.following_count) == (0, 0)


def test_cannot_follow_self(auth_api):
    response = auth_api.post(f"/api/v1/users/{auth_api.user.handle}/follow")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "follow_self"
    assert not Follow.objects.exists()


def test_blocked_user_cannot_follow_or_see_profile(client_for):
    owner, blocked = UserFactory(), UserFactory()
    BlockFactory(blocker=owner, blocked=blocked)
    api = client_for(blocked)

    profile = api.get(f"/api/v1/users/{owner.handle}")
    follow = api.post(f"/api/v1/users/{owner.handle}/follow")
    followers = api.get(f"/api/v1/users/{owner.handle}/followers")

    assert profile.status_code == follow.status_code == followers.status_code == 404
    assert not Follow.objects.exists()
    owner.refresh_from_db()
    assert owner.followers_count == 0


def test_blocker_cannot_follow_whom_they_blocked(client_for):
    owner, blocked = UserFactory(), UserFactory()
    BlockFactory(blocker=owner, blocked=blocked)

    response = client_for(owner).post(f"/api/v1/users/{blocked.handle}/follow")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "blocked"
    assert not Follow.objects.exists()


def test_blocked_either_way_is_one_rule_in_each_of_its_forms():
    from accounts.selectors import not_blocked_with, users_blocked_between

    me, blocked_by_me, blocking_me, stranger = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    BlockFactory(blocker=me, blocked=blocked_by_me)
    BlockFactory(blocker=blocking_me, blocked=me)

    assert [users_blocked_between(me, other) for other in (blocked_by_me, blocking_me, stranger)] == \
        [True, True, False]
    assert [users_blocked_between(other, me) for other in (blocked_by_me, blocking_me, stranger)] == \
        [True, True, False]
    assert not users_blocked_between(blocked_by_me, blocking_me)
    assert set(User.objects.filter(not_blocked_with(user=me))) == {me, stranger}
    # Through a relation: the rule applies to the user at the end of `field`.
    by_blocking_me = FollowFactory(follower=blocking_me, followee=stranger)
    by_stranger = FollowFactory(follower=stranger, followee=blocked_by_me)
    assert list(Follow.objects.filter(not_blocked_with(user=me, field="follower"))) == [by_stranger]
    assert list(Follow.objects.filter(not_blocked_with(user=me.pk, field="followee"))) == [by_blocking_me]


def test_block_removes_follows_both_ways_and_unblock_restores_visibility(client_for):
    me, other = UserFactory(), UserFactory()
    api = client_for(me)
    api.post(f"/api/v1/users/{other.handle}/follow")
    client_for(other).post(f"/api/v1/users/{me.handle}/follow")

    blocked = api.post(f"/api/v1/users/{other.handle}/block")

    assert blocked.status_code == 204
    assert Block.objects.filter(blocker=me, blocked=other).exists()
    assert not Follow.objects.exists()
    me.refresh_from_db()
    other.refresh_from_db()
    assert (me.followers_count, me.following_count, other.followers_count, other.following_count) == (0, 0, 0, 0)
    assert client_for(other).get(f"/api/v1/users/{me.handle}").status_code == 404
    assert api.get(f"/api/v1/users/{other.handle}").json()["is_blocked"] is True

    assert api.delete(f"/api/v1/users/{other.handle}/block").status_code == 204
    assert not Block.objects.exists()
    assert client_for(other).get(f"/api/v1/users/{me.handle}").status_code == 200


def test_followers_and_following_are_cursor_paged_newest_first(client_for):
    star = UserFactory(handle="star")
    fans = [UserFactory() for _ in range(5)]
    for fan in fans:
        FollowFactory(follower=fan, followee=star)
    api = client_for(fans[0])

    page1 = api.get("/api/v1/users/star/followers?page_size=3").json()
    page2 = api.get(page1["next"]).json()

    handles = [e["user"]["handle"] for e in page1["results"] + page2["results"]]
    assert handles == [f.handle for f in reversed(fans)]
    assert page2["next"] is None
    following = api.get(f"/api/v1/users/{fans[0].handle}/following").json()
    assert [e["user"]["handle"] for e in following["results"]] == ["star"]


def test_device_register_is_upsert(client_for):
    user = UserFactory()

    created = client_for(user).post("/api/v1/me/devices", {"token": "fcm-abc", "platform": "ios",
                                                            "app_version": "1.2.0"})
    again = client_for(user).post("/api/v1/me/devices", {"token": "fcm-abc", "platform": "ios"})

    assert created.status_code == again.status_code == 201
    device = Device.objects.get()
    assert (device.user_id, device.app_version) == (user.pk, "")
    assert created.json()["id"] == again.json()["id"] == device.pk
    # Moving between accounts: accounts/tests/test_sessions.py.


def test_device_register_rejects_bad_platform(auth_api):
    response = auth_api.post("/api/v1/me/devices", {"token": "fcm-abc", "platform": "blackberry"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["platform"][0]["code"] == "invalid_choice"
    assert not Device.objects.exists()


def test_device_delete_only_touches_own_devices(client_for):
    mine = DeviceFactory(fcm_token="mine")
    theirs = DeviceFactory(fcm_token="theirs")
    api = client_for(mine.user)

    assert api.delete("/api/v1/me/devices", {"token": "theirs"}).status_code == 204
    assert Device.objects.filter(pk=theirs.pk).exists()
    assert api.delete("/api/v1/me/devices", {"token": "mine"}).status_code == 204
    assert not Device.objects.filter(pk=mine.pk).exists()


def test_suspended_users_profile_is_gone(auth_api):
    UserFactory(handle="gone", is_active=False)

    assert auth_api.get("/api/v1/users/gone").status_code == 404
    assert User.objects.filter(handle="gone").exists()
