"""Accounts' sections of the account export: the profile (and avatar), who the user follows,
and who follows them."""

from __future__ import annotations

from django.db.models import F

from .exports.registry import Section, account_export_section_register, media_file
from .models import Follow, User


def _profile(user: User) -> Section:
    user = User.objects.select_related("market").get(pk=user.pk)
    avatar = media_file("profile", user.avatar.name)
    return Section(data={
        "id": user.pk, "email": user.email, "email_verified": user.email_verified, "handle": user.handle,
        "display_name": user.display_name, "bio": user.bio, "locale": user.locale, "country": user.country,
        "market": user.market.code if user.market else None, "birth_year": user.birth_year,
        "daily_feed_minutes": user.daily_feed_minutes, "avatar": avatar.path if avatar else None,
        "created_at": user.created_at,
    }, media=[avatar] if avatar else [])


def _edges(**filters) -> Section:
    other = "followee" if "follower_id" in filters else "follower"
    rows = (Follow.objects.filter(**filters).order_by("created_at", "pk")
            .annotate(user_id=F(f"{other}_id"), handle=F(f"{other}__handle"))
            .values("user_id", "handle", "created_at").iterator(chunk_size=2000))
    return Section(data=rows)


def _follows(user: User) -> Section:
    return _edges(follower_id=user.pk)


def _followers(user: User) -> Section:
    return _edges(followee_id=user.pk)


def account_export_sections_register() -> None:
    account_export_section_register("profile", _profile)
    account_export_section_register("follows", _follows)
    account_export_section_register("followers", _followers)
