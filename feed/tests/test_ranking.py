"""For-you and trending: order, diversity, personal filters and cursor stability."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import BlockFactory, FollowFactory, UserFactory
from feed import ranking
from feed.counters import views_record
from feed.models import Post, PostStatus
from generation.models import JobStatus
from generation.tests.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db

FOR_YOU = "/api/v1/feed/for-you"


def make_post(author, *, hours_ago=1.0, likes=0, comments=0, remixes=0, views=0, shares=0, language="en",
              region="US", hashtags=(), visibility="public", status=PostStatus.ACTIVE) -> Post:
    job = GenerationJobFactory(user=author, status=JobStatus.SUCCEEDED)
    return Post.objects.create(
        author=author, generation=job, caption=" ".join(f"#{t}" for t in hashtags), hashtags=list(hashtags),
        language=language, region=region, visibility=visibility, status=status, likes_count=likes,
        comments_count=comments, remixes_count=remixes, views_count=views, shares_count=shares,
        created_at=timezone.now() - timedelta(hours=hours_ago),
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [p["id"] for p in response.json()["results"]]


def all_pages(client, url=FOR_YOU, **params) -> list[list[int]]:
    pages = []
    response = client.get(url, params)
    while True:
        pages.append(ids(response))
        if not response.json()["next"]:
            return pages
        response = client.get(response.json()["next"])


@pytest.fixture
def viewer():
    return UserFactory(locale="en-US", country="US")


def test_score_weighs_creation_over_watching_and_decays_with_age():
    remixed = ranking.engagement_score(remixes=10, comments=0, shares=0, likes=0, views=0, age_hours=1)
    commented = ranking.engagement_score(remixes=0, comments=10, shares=0, likes=0, views=0, age_hours=1)
    liked = ranking.engagement_score(remixes=0, comments=0, shares=0, likes=10, views=0, age_hours=1)
    watched = ranking.engagement_score(remixes=0, comments=0, shares=0, likes=0, views=10, age_hours=1)
    old_remixed = ranking.engagement_score(remixes=10, comments=0, shares=0, likes=0, views=0, age_hours=48)

    assert remixed > commented > liked > watched
    assert old_remixed < remixed / 10


def test_for_you_order_on_a_hand_built_data_set(client_for, viewer):
    authors = [UserFactory() for _ in range(6)]
    followed = authors[5]
    FollowFactory(follower=viewer, followee=followed)
    remixed = make_post(authors[0], remixes=20)
    commented = make_post(authors[1], comments=20)
    liked = make_post(authors[2], likes=20)
    watched = make_post(authors[3], views=200)
    old = make_post(authors[4], remixes=20, hours_ago=100)
    from_followed = make_post(followed, likes=14)  # fewer likes, but the follow boost puts it ahead of `liked`
    ranking.scores_refresh()

    page = ids(client_for(viewer).get(FOR_YOU))

    assert page == [remixed.pk, commented.pk, from_followed.pk, liked.pk, watched.pk, old.pk]


def test_language_and_region_boost_the_viewers_market(client_for, viewer):
    same = make_post(UserFactory(), likes=10, language="en", region="US")
    other = make_post(UserFactory(), likes=12, language="pt", region="BR")
    ranking.scores_refresh()

    assert ids(client_for(viewer).get(FOR_YOU)) == [same.pk, other.pk]


def test_personalisation_off_ranks_by_global_score_only(client_for, viewer):
    followed = UserFactory()
    FollowFactory(follower=viewer, followee=followed)
    popular = make_post(UserFactory(), likes=15, language="pt", region="BR")
    mine_to_see = make_post(followed, likes=10)
    ranking.scores_refresh()
    client = client_for(viewer)

    assert ids(client.get(FOR_YOU)) == [mine_to_see.pk, popular.pk]
    assert client.patch("/api/v1/me/feed-preferences", {"personalized": False}).json() == {"personalized": False}
    assert ids(client.get(FOR_YOU)) == [popular.pk, mine_to_see.pk]


def test_at_most_two_posts_per_author_per_page_without_skips_or_repeats(client_for, viewer):
    prolific = UserFactory()
    others = [UserFactory() for _ in range(4)]
    top = [make_post(prolific, likes=100 - i) for i in range(6)]
    rest = [make_post(author, likes=10) for author in others]
    ranking.scores_refresh()

    pages = all_pages(client_for(viewer), page_size=4)

    for page in pages:
        authors = [Post.objects.get(pk=i).author_id for i in page]
        assert authors.count(prolific.pk) <= 2
    flat = [i for page in pages for i in page]
    assert sorted(flat) == sorted(p.pk for p in top + rest)  # nothing skipped, nothing twice
    assert pages[0][:2] == [top[0].pk, top[1].pk]


def test_not_interested_muted_author_and_hashtag_are_left_out(client_for, viewer):
    client = client_for(viewer)
    muted_author = UserFactory(handle="loud")
    dismissed = make_post(UserFactory(), likes=50)
    by_muted = make_post(muted_author, likes=40)
    tagged = make_post(UserFactory(), likes=30, hashtags=["spoilers"])
    kept = make_post(UserFactory(), likes=1)
    ranking.scores_refresh()

    assert client.post(f"/api/v1/posts/{dismissed.pk}/not-interested").status_code == 204
    assert client.post("/api/v1/users/loud/mute").status_code == 204
    assert client.post("/api/v1/hashtags/Spoilers/mute").status_code == 204

    assert ids(client.get(FOR_YOU)) == [kept.pk]
    assert by_muted.pk and tagged.pk  # they exist; only this viewer does not see them
    assert ids(client_for(UserFactory()).get(FOR_YOU)) == [dismissed.pk, by_muted.pk, tagged.pk, kept.pk]


def test_a_muted_hashtag_also_hides_posts_of_people_the_viewer_follows(client_for, viewer, settings):
    settings.FEED_CANDIDATES = 1  # the followed author's posts arrive only as followed-author candidates
    friend = UserFactory()
    FollowFactory(follower=viewer, followee=friend)
    make_post(UserFactory(), likes=90)
    tagged = make_post(friend, hashtags=["spoilers"], hours_ago=0.5)
    plain = make_post(friend, hours_ago=0.6)
    ranking.scores_refresh()
    client = client_for(viewer)
    assert tagged.pk in ids(client.get(FOR_YOU))

    assert client.post("/api/v1/hashtags/spoilers/mute").status_code == 204

    page = ids(client.get(FOR_YOU))
    assert tagged.pk not in page
    assert plain.pk in page


def test_recently_seen_posts_are_left_out_of_for_you(client_for, viewer):
    seen = make_post(UserFactory(), likes=50)
    fresh = make_post(UserFactory(), likes=5)
    ranking.scores_refresh()
    views_record(viewer_id=viewer.pk, post_ids=[seen.pk])

    assert ids(client_for(viewer).get(FOR_YOU)) == [fresh.pk]


def test_blocked_private_hidden_and_own_posts_never_rank(client_for, viewer):
    blocker, blocked = UserFactory(), UserFactory()
    BlockFactory(blocker=blocker, blocked=viewer)
    BlockFactory(blocker=viewer, blocked=blocked)
    make_post(blocker, likes=90)
    make_post(blocked, likes=90)
    make_post(UserFactory(), likes=90, visibility="private")
    make_post(UserFactory(), likes=90, status=PostStatus.HIDDEN)
    make_post(viewer, likes=90)
    visible = make_post(UserFactory(), likes=1)
    ranking.scores_refresh()

    assert ids(client_for(viewer).get(FOR_YOU)) == [visible.pk]


def test_cursor_is_stable_while_new_posts_arrive(client_for, viewer):
    posts = [make_post(UserFactory(), likes=30 - i) for i in range(6)]
    ranking.scores_refresh()
    client = client_for(viewer)

    first = client.get(FOR_YOU, {"page_size": 2})
    for i in range(3):  # hotter than everything on the next pages
        make_post(UserFactory(), likes=500 + i)
    ranking.scores_refresh()
    second = client.get(first.json()["next"])
    third = client.get(second.json()["next"])

    seen = ids(first) + ids(second) + ids(third)
    assert seen == [p.pk for p in posts]
    assert third.json()["next"] is None


def test_bad_cursor_and_page_size_are_clear_errors(client_for, viewer):
    client = client_for(viewer)

    bad_cursor = client.get(FOR_YOU, {"cursor": "not-a-cursor"})
    bad_size = client.get(FOR_YOU, {"page_size": 51})
    expired = client.get(FOR_YOU, {"cursor": ranking._encode("gone", 20, 1)})

    assert (bad_cursor.status_code, bad_cursor.json()["error"]["code"]) == (400, "cursor_invalid")
    assert (bad_size.status_code, bad_size.json()["error"]["code"]) == (400, "validation_error")
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "cursor_expired")


def test_trending_is_recent_and_not_personal(client_for, viewer, settings):
    settings.FEED_TRENDING_HOURS = 24
    followed = UserFactory()
    FollowFactory(follower=viewer, followee=followed)
    hot = make_post(UserFactory(), likes=40, language="pt")
    from_followed = make_post(followed, likes=30)
    make_post(UserFactory(), likes=1000, hours_ago=30)  # too old for trending
    ranking.scores_refresh()

    assert ids(client_for(viewer).get("/api/v1/feed/trending")) == [hot.pk, from_followed.pk]


def test_refresh_uses_the_same_formula_as_engagement_score():
    post = make_post(UserFactory(), likes=3, comments=2, remixes=1, views=40, shares=1, hours_ago=5)

    ranking.scores_refresh(now=post.created_at + timedelta(hours=5))

    post.refresh_from_db()
    assert post.score == pytest.approx(
        ranking.engagement_score(remixes=1, comments=2, shares=1, likes=3, views=40, age_hours=5), rel=1e-6)


def test_layout_defers_posts_over_the_author_cap_in_rank_order():
    items = [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "c"), (6, "a"), (7, "a")]

    assert ranking.layout(items, 3, 2) == [[1, 2, 4], [3, 5, 6], [7]]
    assert ranking.layout(items, 10, 1) == [[1, 4, 5], [2], [3], [6], [7]]
    assert ranking.layout([], 3, 2) == []


def test_best_scored_posts_are_shared_between_viewers_and_hidden_ones_still_vanish(client_for, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.FEED_CANDIDATES_CACHE_SECONDS = 60
    ranking._best_scored_cache.clear()
    author = UserFactory()
    posts = [make_post(author, likes=n) for n in (30, 20, 10)]
    ranking.scores_refresh()
    first, second = UserFactory(), UserFactory()

    assert ids(client_for(first).get(FOR_YOU)) == [posts[0].pk, posts[1].pk]  # two per author on a page
    Post.objects.filter(pk=posts[0].pk).update(status=PostStatus.HIDDEN)
    client = client_for(second)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(FOR_YOU)

    # The user, their follows/blocks/mutes, the page, its renditions: the best-scored posts came
    # from the cache, and the hidden one was dropped when the page was read.
    assert len(queries.captured_queries) == 4
    assert ids(page) == [posts[1].pk]
    ranking._best_scored_cache.clear()
    assert ids(client.get(FOR_YOU)) == [posts[1].pk, posts[2].pk]


def test_a_refresh_writes_only_the_scores_that_moved_past_the_tolerance(settings):
    settings.FEED_SCORE_REFRESH_TOLERANCE = 0.02
    author = UserFactory()
    quiet = make_post(author, hours_ago=100, likes=2)
    liked = make_post(author, hours_ago=100, likes=2)
    now = timezone.now()
    assert ranking.scores_refresh(now=now) == 2
    quiet.refresh_from_db()
    quiet_score = quiet.score
    Post.objects.filter(pk=liked.pk).update(likes_count=4)

    # A minute of decay moves a 100-hour-old score by 0.02 %: only the liked post is written.
    written = ranking.scores_refresh(now=now + timedelta(minutes=1))

    quiet.refresh_from_db()
    liked.refresh_from_db()
    assert written == 1
    assert quiet.score == quiet_score
    assert liked.score == pytest.approx(ranking.engagement_score(
        remixes=0, comments=0, shares=0, likes=4, views=0, age_hours=100 + 1 / 60), rel=1e-3)
    settings.FEED_SCORE_REFRESH_TOLERANCE = 0
    assert ranking.scores_refresh(now=now + timedelta(minutes=2)) == 2


def test_a_new_post_is_a_for_you_candidate_before_any_score_refresh(client_for, viewer):
    from feed import services
    from feed.tests.factories import SucceededJobFactory

    author = UserFactory()
    post = services.post_create(user=author, generation_id=SucceededJobFactory(user=author).id, caption="new")

    assert post.score > 0
    assert ids(client_for(viewer).get(FOR_YOU)) == [post.pk]


def test_followed_candidates_are_the_newest_few_of_each_followed_author_in_both_sql_forms(settings):
    """PostgreSQL reads them with LATERAL, other databases with a window function: the same rows."""
    settings.FEED_FOLLOWING_PER_AUTHOR, settings.FEED_FOLLOWING_CANDIDATES = 2, 5
    prolific, quiet, gone = UserFactory(), UserFactory(), UserFactory(is_active=False)
    newest = [make_post(prolific, hours_ago=h) for h in (1, 2, 3, 4)]
    followers_only = make_post(quiet, hours_ago=1.5, visibility="followers")
    make_post(quiet, hours_ago=0.5, visibility="private")
    make_post(quiet, hours_ago=0.7, status=PostStatus.HIDDEN)
    make_post(quiet, hours_ago=24 * 30)  # outside the window
    older = make_post(quiet, hours_ago=5)
    make_post(gone, hours_ago=0.1)
    make_post(UserFactory(), hours_ago=0.1)  # not followed
    since = timezone.now() - timedelta(days=7)

    forms = {vendor: [row[:2] for row in ranking.followed_recent(authors=[prolific.pk, quiet.pk, gone.pk],
                                                                  since=since, vendor=vendor)]
             for vendor in ("postgresql", "sqlite")}

    expected = [(newest[0].pk, prolific.pk), (followers_only.pk, quiet.pk), (newest[1].pk, prolific.pk),
                (older.pk, quiet.pk)]
    assert forms == {"postgresql": expected, "sqlite": expected}
    settings.FEED_FOLLOWING_CANDIDATES = 3
    assert [row[0] for row in ranking.followed_recent(authors=[prolific.pk, quiet.pk], since=since)] == \
        [p for p, _ in expected[:3]]


@pytest.mark.parametrize(("boost", "first"), [(0.25, "home"), (0.0, "abroad")])
def test_the_regional_boost_is_the_viewers_markets(client_for, viewer, boost, first):
    from accounts.models import Market

    market, _ = Market.objects.update_or_create(code="us", defaults={"name": "US", "countries": ["US"],
                                                                      "region_boost": boost})
    type(viewer).objects.filter(pk=viewer.pk).update(market=market)
    viewer.refresh_from_db()
    posts = {"home": make_post(UserFactory(), likes=11, language="en", region="US"),
             "abroad": make_post(UserFactory(), likes=12, language="en", region="GB")}
    ranking.scores_refresh()

    assert ids(client_for(viewer).get(FOR_YOU))[0] == posts[first].pk
