"""Feed's sections of the account export: the user's posts, comments and likes. A post names
its generation (`generation_id`); the video and poster are in the generations section."""

from __future__ import annotations

from accounts.exports.registry import Section, account_export_section_register

from .models import Comment, Like, Post

POST_FIELDS = ("id", "generation_id", "caption", "hashtags", "language", "region", "visibility", "remix_policy",
               "status", "parent_id", "likes_count", "comments_count", "remixes_count", "views_count",
               "shares_count", "created_at", "updated_at")


def _posts(user) -> Section:
    return Section(data=Post.objects.filter(author_id=user.pk).order_by("created_at", "pk")
                   .values(*POST_FIELDS).iterator(chunk_size=2000))


def _comments(user) -> Section:
    return Section(data=Comment.objects.filter(author_id=user.pk).order_by("created_at", "pk")
                   .values("id", "post_id", "parent_id", "body", "created_at").iterator(chunk_size=2000))


def _likes(user) -> Section:
    return Section(data=Like.objects.filter(user_id=user.pk).order_by("created_at", "pk")
                   .values("post_id", "created_at").iterator(chunk_size=2000))


def account_export_sections_register() -> None:
    account_export_section_register("posts", _posts)
    account_export_section_register("comments", _comments)
    account_export_section_register("likes", _likes)
