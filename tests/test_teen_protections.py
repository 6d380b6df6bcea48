"""Teen protections across apps: who is a teen (accounts.selectors.user_is_teen), the audience
of their posts, the shields against adults they do not follow (comments, mentions, cameos),
the for-you filter, the daily feed time limit, and the protections lifting on adulthood."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.cameos.consent import consent_problem, may_use
from accounts.cameos.models import Cameo, CameoLevel, CameoStatus
from accounts.models import Market, Notification, User
from accounts.selectors import teens_q, user_is_teen
from accounts.tests.factories import FollowFactory, UserFactory
from config.errors import ApplicationError
from feed import screen_time
from feed import services as feed_services
from feed.models import Comment, Post
from feed.tests.factories import PostFactory, SucceededJobFactory
from generation import services as gen
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db

THIS_YEAR = timezone.now().year
ME = "/api/v1/me"
FOR_YOU = "/api/v1/feed/for-you"
TRENDING = "/api/v1/feed/trending"
FOLLOWING = "/api/v1/feed/following"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CREDITS_SIGNUP_GRANT = 100


def teen(**kwargs) -> User:
    return UserFactory(birth_year=THIS_YEAR - 15, **kwargs)


def adult(**kwargs) -> User:
    return UserFactory(birth_year=THIS_YEAR - 30, **kwargs)


def _move_clock(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr("django.utils.timezone.now", lambda: moment)


# --- who is a teen -----------------------------------------------------------------------------

def test_age_counts_from_the_birth_year_against_the_markets_teen_age():
    korea = Market.objects.create(code="kr-test", name="Korea", countries=["KR"], teen_age=19)
    cases = {
        "turns_18_this_year": (UserFactory(birth_year=THIS_YEAR - 18), False),
        "turns_18_next_year": (UserFactory(birth_year=THIS_YEAR - 17), True),
        "no_birth_year": (UserFactory(birth_year=None), True),  # unknown age: protected
        "18_in_a_teen_age_19_market": (UserFactory(birth_year=THIS_YEAR - 18, market=korea), True),
        "19_in_a_teen_age_19_market": (UserFactory(birth_year=THIS_YEAR - 19, market=korea), False),
    }

    assert {name: user_is_teen(user) for name, (user, __) in cases.items()} == \
           {name: expected for name, (__, expected) in cases.items()}
    # The queryset form agrees with the one selector, user by user.
    teens = set(User.objects.filter(teens_q()).values_list("pk", flat=True))
    assert teens == {user.pk for user, expected in cases.values() if expected}


def test_protections_lift_by_themselves_the_year_the_user_comes_of_age(monkeypatch):
    seventeen = UserFactory(birth_year=THIS_YEAR - 17)  # adult next year
    eighteen = UserFactory(birth_year=THIS_YEAR - 18)  # adult this year
    assert (user_is_teen(seventeen), user_is_teen(eighteen)) == (True, False)

    _move_clock(monkeypatch, datetime(THIS_YEAR + 1, 1, 1, 12, tzinfo=dt_timezone.utc))

    assert (user_is_teen(seventeen), user_is_teen(eighteen)) == (False, False)
    seventeen.refresh_from_db()
    assert seventeen.daily_feed_minutes is None  # nothing stored, nothing to undo


def test_me_shows_the_users_own_protections(client_for, settings):
    settings.TEEN_DAILY_FEED_MINUTES = 45

    young, grown = client_for(teen()).get(ME).json(), client_for(adult()).get(ME).json()

    assert (young["is_teen"], young["protections"]) == (True, {
        "is_teen": True, "public_posts_allowed": False, "strangers_may_interact": False,
        "cash_payouts_available": False, "daily_feed_minutes": 45})
    assert (grown["is_teen"], grown["protections"]) == (False, {
        "is_teen": False, "public_posts_allowed": True, "strangers_may_interact": True,
        "cash_payouts_available": True, "daily_feed_minutes": None})


# --- posts -------------------------------------------------------------------------------------

def _post_body(user, **fields) -> dict:
    return {"generation_id": str(SucceededJobFactory(user=user).pk), **fields}


def test_a_teens_new_post_defaults_to_followers_and_an_adults_to_public(client_for):
    young, grown = teen(), adult()

    young_post = client_for(young).post("/api/v1/posts", _post_body(young), format="json")
    grown_post = client_for(grown).post("/api/v1/posts", _post_body(grown), format="json")

    assert young_post.status_code == grown_post.status_code == 201
    assert (young_post.json()["visibility"], young_post.json()["remix_policy"]) == ("followers", "followers")
    assert (grown_post.json()["visibility"], grown_post.json()["remix_policy"]) == ("public", "everyone")


@pytest.mark.parametrize("fields", [{"visibility": "public"}, {"remix_policy": "everyone"},
                                    {"visibility": "public", "remix_policy": "followers"}])
def test_a_teen_cannot_make_a_post_public_or_remixable_by_everyone(client_for, fields):
    young = teen()
    body = _post_body(young, **fields)

    response = client_for(young).post("/api/v1/posts", body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "teen_restricted")
    assert Post.objects.count() == 0


def test_a_teen_may_tighten_a_post_but_not_open_it(client_for):
    young = teen()
    post = PostFactory(author=young, visibility="followers", remix_policy="followers")
    client = client_for(young)

    opened = client.patch(f"/api/v1/posts/{post.pk}", {"visibility": "public", "caption": "new"}, format="json")
    tightened = client.patch(f"/api/v1/posts/{post.pk}", {"visibility": "private", "remix_policy": "nobody"},
                             format="json")

    assert (opened.status_code, opened.json()["error"]["code"]) == (403, "teen_restricted")
    assert tightened.status_code == 200
    post.refresh_from_db()
    assert (post.visibility, post.remix_policy, post.caption) == ("private", "nobody", "a paper boat")


def test_where_policy_allows_a_teen_may_post_publicly(client_for, settings):
    settings.TEEN_PUBLIC_POSTS_ALLOWED = True
    young = teen()

    response = client_for(young).post("/api/v1/posts", _post_body(young, visibility="public",
                                                                  remix_policy="everyone"), format="json")

    assert response.status_code == 201
    assert (response.json()["visibility"], response.json()["remix_policy"]) == ("public", "everyone")
    # Without an explicit choice the default stays followers only.
    default = client_for(young).post("/api/v1/posts", _post_body(young), format="json")
    assert default.json()["visibility"] == "followers"


# --- comments, mentions, cameos ----------------------------------------------------------------

def test_an_adult_the_teen_does_not_follow_cannot_comment(client_for):
    young, stranger = teen(), adult()
    post = PostFactory(author=young)

    response = client_for(stranger).post(f"/api/v1/posts/{post.pk}/comments", {"body": "hi"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "teen_comment_restricted")
    assert Comment.objects.count() == 0
    post.refresh_from_db()
    assert post.comments_count == 0
    assert not Notification.objects.filter(user=young).exists()


def test_adults_the_teen_follows_other_teens_and_the_teen_may_comment(client_for):
    young, friend, classmate = teen(), adult(), teen()
    FollowFactory(follower=young, followee=friend)
    post = PostFactory(author=young)

    statuses = [client_for(user).post(f"/api/v1/posts/{post.pk}/comments", {"body": "hi"}, format="json").status_code
                for user in (friend, classmate, young)]

    assert statuses == [201, 201, 201]
    assert Comment.objects.filter(post=post).count() == 3


def test_a_teen_named_by_an_adult_stranger_is_not_told(client_for):
    """Mentions are dropped silently, not refused: the caption stays as written (refusing it
    would tell the adult that the handle is a teen's), nobody is notified."""
    young, stranger = teen(handle="young_one"), adult()
    post = PostFactory(author=stranger, caption="look @young_one")

    feed_services.notifications.caption_mentions_notify(post=post)
    comment = feed_services.comment_create(user=stranger, post_id=PostFactory(author=adult()).pk,
                                           body="@young_one see")

    assert not Notification.objects.filter(user=young).exists()
    assert Post.objects.get(pk=post.pk).caption == "look @young_one"
    assert Comment.objects.get(pk=comment.pk).body == "@young_one see"


def test_a_teen_named_by_someone_they_follow_or_by_a_teen_is_told():
    young, friend, classmate = teen(handle="young_one"), adult(), teen()
    FollowFactory(follower=young, followee=friend)

    for author in (friend, classmate):
        feed_services.notifications.caption_mentions_notify(post=PostFactory(author=author, caption="@young_one"))

    assert sorted(Notification.objects.filter(user=young, type="mention").values_list("actor_id", flat=True)) == \
           sorted([friend.pk, classmate.pk])


def _verified_cameo(owner) -> Cameo:
    cameo = Cameo.objects.create(owner=owner, name="Me", level=CameoLevel.EVERYONE, status=CameoStatus.VERIFIED,
                                 verified_at=timezone.now())
    cameo.reference_image.save("reference.jpg", ContentFile(_jpeg()), save=True)
    return cameo


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 10, 10)).save(out, "JPEG")
    return out.getvalue()


def test_an_adult_stranger_cannot_put_a_teens_cameo_in_a_video(sent_tasks):
    young, stranger = teen(), adult()
    cameo = _verified_cameo(young)  # "everyone": the level the teen chose does not open it to adults

    with pytest.raises(ApplicationError) as refused:
        gen.generation_submit(user=stranger, kind="text_to_video", prompt="lanterns over a lake", duration_seconds=4,
                              size="480x854", cameo_ids=[str(cameo.pk)])

    assert (refused.value.code, refused.value.status_code) == ("cameo_not_permitted", 403)
    assert (consent_problem(cameo=cameo, user_id=stranger.pk), may_use(cameo=cameo, user_id=stranger.pk)) == \
           ("cameo_not_permitted", False)
    assert GenerationJob.objects.count() == 0
    assert sent_tasks == []


def test_people_the_teen_follows_and_other_teens_may_use_the_cameo():
    young, friend, classmate, grown_owner = teen(), adult(), teen(), adult()
    FollowFactory(follower=young, followee=friend)
    cameo, adults_cameo = _verified_cameo(young), _verified_cameo(grown_owner)

    assert [consent_problem(cameo=cameo, user_id=u.pk) for u in (friend, classmate, young)] == [None, None, None]
    assert consent_problem(cameo=adults_cameo, user_id=adult().pk) is None  # adults' rules unchanged


# --- for-you -----------------------------------------------------------------------------------

def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [post["id"] for post in response.json()["results"]]


def test_a_teens_posts_stay_out_of_strangers_ranked_feeds(client_for):
    young = teen()
    public_teen = PostFactory(author=young, visibility="public")  # from before, or where policy allows
    followers_teen = PostFactory(author=young, visibility="followers")
    grown_post = PostFactory(author=adult(), visibility="public")
    stranger, fan, friend = adult(), adult(), adult()
    FollowFactory(follower=fan, followee=young)  # follows the teen, not followed back
    FollowFactory(follower=friend, followee=young)
    FollowFactory(follower=young, followee=friend)  # mutual

    assert set(_ids(client_for(stranger).get(FOR_YOU))) == {grown_post.pk}
    assert set(_ids(client_for(stranger).get(TRENDING))) == {grown_post.pk}
    assert set(_ids(client_for(fan).get(FOR_YOU))) == {grown_post.pk}
    assert set(_ids(client_for(friend).get(FOR_YOU))) == {grown_post.pk, public_teen.pk, followers_teen.pk}
    # The following feed is the follower's own choice: it still shows what the teen shares with followers.
    assert set(_ids(client_for(fan).get(FOLLOWING))) == {public_teen.pk, followers_teen.pk}


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(FOR_YOU).status_code == 200
    return len(captured.captured_queries)


def test_the_teen_check_costs_a_query_only_for_a_teens_public_post_among_the_best_scored(client_for):
    viewer, young = adult(), teen()
    FollowFactory(follower=viewer, followee=adult())  # the followed authors' query runs
    PostFactory(author=adult(), visibility="public")
    client = client_for(viewer)
    client.get(FOR_YOU)  # warm up
    baseline = _queries(client)

    # A followers-only teen post (the default) of someone the viewer follows: decided in the
    # followed authors' query itself.
    FollowFactory(follower=viewer, followee=young)
    PostFactory(author=young, visibility="followers")
    assert _queries(client) == baseline

    # A public teen post among the best-scored rows (shared by every viewer): one Follow lookup.
    PostFactory(author=teen(), visibility="public")
    assert _queries(client) == baseline + 1


# --- the daily feed time limit -----------------------------------------------------------------

def _watch(client, post, seconds: int):
    return client.post("/api/v1/views", {"post_ids": [post.pk], "watch_seconds": seconds}, format="json")


def test_a_teen_is_stopped_at_the_default_daily_limit(client_for, settings):
    settings.TEEN_DAILY_FEED_MINUTES = 60
    young = teen()
    client = client_for(young)
    post = PostFactory(author=adult())

    assert _watch(client, post, 3599).json() == {"counted": 1}
    assert client.get(FOR_YOU).status_code == 200
    _watch(client, post, 1)

    answers = [client.get(url) for url in (FOR_YOU, TRENDING, FOLLOWING)]
    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [(403, "feed_time_limit_reached")] * 3


def test_an_adult_has_no_limit_unless_they_set_one(client_for):
    grown = adult()
    client = client_for(grown)
    post = PostFactory(author=adult())
    _watch(client, post, 3600)
    _watch(client, post, 3600)
    assert client.get(FOR_YOU).status_code == 200

    assert client.patch(ME, {"daily_feed_minutes": 90}, format="json").json()["protections"][
        "daily_feed_minutes"] == 90

    assert (client.get(FOR_YOU).status_code, client.get(FOR_YOU).json()["error"]["code"]) == (403, "feed_time_limit_reached")
    assert client.patch(ME, {"daily_feed_minutes": None}, format="json").status_code == 200
    assert client.get(FOR_YOU).status_code == 200


@pytest.mark.parametrize("minutes", [61, None])
def test_a_teen_cannot_lift_or_remove_the_limit(client_for, settings, minutes):
    settings.TEEN_DAILY_FEED_MINUTES = 60
    young = teen()

    response = client_for(young).patch(ME, {"daily_feed_minutes": minutes}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "teen_restricted")
    young.refresh_from_db()
    assert young.daily_feed_minutes is None


def test_a_teen_may_lower_the_limit(client_for, settings):
    settings.TEEN_DAILY_FEED_MINUTES = 60
    young = teen()
    client = client_for(young)

    assert client.patch(ME, {"daily_feed_minutes": 20}, format="json").status_code == 200
    _watch(client, PostFactory(author=adult()), 20 * 60)

    assert client.get(FOR_YOU).json()["error"]["code"] == "feed_time_limit_reached"


@pytest.mark.parametrize("seconds", [-1, 3601, "ten"])
def test_bad_watch_times_are_refused_and_not_counted(client_for, seconds):
    young = teen()

    response = _watch(client_for(young), PostFactory(author=adult()), seconds)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")
    assert screen_time.feed_seconds_today(user=young) == 0


def test_the_day_is_the_users_own_and_the_limit_resets_at_their_midnight(monkeypatch, settings):
    settings.TEEN_DAILY_FEED_MINUTES = 60
    tokyo = Market.objects.create(code="jp-test", name="Japan", countries=["JP"], time_zone="Asia/Tokyo")
    young = UserFactory(birth_year=THIS_YEAR - 15, market=tokyo)
    # 23:30 UTC on June 1st is already June 2nd, 08:30, in Tokyo.
    _move_clock(monkeypatch, datetime(THIS_YEAR, 6, 1, 23, 30, tzinfo=dt_timezone.utc))
    screen_time.feed_time_add(user=young, seconds=3600)

    # 14:30 UTC on June 2nd: 23:30 in Tokyo, the same local day.
    _move_clock(monkeypatch, datetime(THIS_YEAR, 6, 2, 14, 30, tzinfo=dt_timezone.utc))
    with pytest.raises(ApplicationError) as refused:
        screen_time.feed_time_check(user=young)
    assert refused.value.code == "feed_time_limit_reached"

    # 15:30 UTC: past midnight in Tokyo, a new day (still June 2nd in UTC).
    _move_clock(monkeypatch, datetime(THIS_YEAR, 6, 2, 15, 30, tzinfo=dt_timezone.utc))
    screen_time.feed_time_check(user=young)
    assert screen_time.feed_seconds_today(user=young) == 0
