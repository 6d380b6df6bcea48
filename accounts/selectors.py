"""Functions that read accounts state."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from config.errors import NotFound

from .models import Block, Follow, User


def user_handle_taken(handle: str) -> bool:
    return User.objects.filter(handle__iexact=handle).exists()


def users_blocked_between(a: User, b: User) -> bool:
    """True when either user blocked the other."""
    return Block.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def user_visible_by_handle(*, handle: str, viewer: User | None) -> User:
    """A profile as `viewer` may see it: hidden (404) from people its owner blocked."""
    qs = User.objects.filter(handle__iexact=handle, is_active=True)
    if viewer is not None and viewer.is_authenticated:
        qs = qs.exclude(blocks_made__blocked=viewer)
        qs = qs.annotate(
            viewer_follows=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))),
            viewer_blocked=Exists(Block.objects.filter(blocker=viewer, blocked=OuterRef("pk"))),
        )
    user = qs.first()
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


def user_followers(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(followee=user, follower__is_active=True).select_related("follower")


def user_following(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(follower=user, followee__is_active=True).select_related("followee")
