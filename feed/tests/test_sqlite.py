"""The feed's plain SQL on SQLite, the database of the no-services development setup.

The suite runs on PostgreSQL; this starts a fresh process on a SQLite file, so that the card
read, the viewer context and the followed authors' candidates (plain SQL, with a form of
their own for SQLite) are exercised where `make run` uses them."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.tests.factories import BlockFactory, FollowFactory, UserFactory
from feed import ranking, selectors
from feed.models import Like
from feed.serializers import PostSerializer
from feed.tests.factories import PostFactory

viewer, friend, blocked = UserFactory(), UserFactory(avatar="avatars/f.png"), UserFactory()
FollowFactory(follower=viewer, followee=friend)
BlockFactory(blocker=viewer, blocked=blocked)
root = PostFactory(author=friend, hashtags=["sea"])
private_parent = PostFactory(author=friend, parent=root, root=root, lineage=[root.pk], visibility="private")
remix = PostFactory(author=friend, parent=private_parent, root=root, lineage=[root.pk, private_parent.pk],
                    visibility="followers")
by_blocked = PostFactory(author=blocked)
Like.objects.create(user=viewer, post=remix)
context = selectors.viewer_context(viewer=viewer, tastes=True)
cards = selectors.cards(viewer=viewer, ids=[remix.pk, by_blocked.pk, root.pk], context=context)
page = ranking.ranked_page(viewer=viewer, kind="for_you", cursor=None, page_size=None, context=context)
print(json.dumps({
    "ids": {"root": root.pk, "parent": private_parent.pk, "remix": remix.pk},
    "cards": PostSerializer(cards, many=True, context={}).data,
    "followed": [row[0] for row in ranking.followed_recent(authors=sorted(context.following),
                                                          since=root.created_at.replace(year=2000))],
    "ranked": page.ids,
}))
"""


def test_cards_context_and_candidates_read_on_sqlite(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DJANGO_ENV": "development",
           "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": ""}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    ids = out["ids"]

    remix, root = out["cards"]
    assert [remix["id"], root["id"]] == [ids["remix"], ids["root"]]  # the blocked author's post is left out
    assert remix["liked"] is True and root["liked"] is False
    assert remix["parent"] == {"id": ids["parent"], "author": None, "removed": True}  # private
    assert remix["root"]["removed"] is False
    assert root["hashtags"] == ["sea"]
    assert remix["created_at"].endswith("Z")
    assert "/api/v1/media/" in remix["author"]["avatar_url"]  # signed (tests/test_api_contract.py)
    assert out["followed"] == [ids["remix"], ids["root"]]  # newest first; private is not a candidate
    assert sorted(out["ranked"]) == sorted([ids["remix"], ids["root"]])
