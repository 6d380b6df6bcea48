"""What feed tells people (accounts.notifications): likes, comments and replies, remixes, and
`@handle` mentions in captions and comments. Texts are rendered when read, in the reader's
language. Mutes silence (registered with accounts, which checks blocks itself); a deleted
post or comment takes its notifications with it.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from accounts.selectors import teen_shielded_from
from accounts.notifications import (
    Channel,
    Group,
    NotificationType,
    actor_name,
    notification_retract,
    notification_silencer_register,
    notification_type_register,
    notifications_about_delete,
    notify,
)

from .models import Comment, MutedAuthor, Post

# "@ana.lee" where a handle may stand (not inside an email address or a word).
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28})[A-Za-z0-9_])")
# A caption or comment names at most this many people; more is spam, not conversation.
MENTIONS_MAX = 10


def post_key(post_id: int) -> str:
    return f"post:{post_id}"


def comment_key(comment_id: int) -> str:
    return f"comment:{comment_id}"


def _like_key(post_id: int, user_id: int) -> str:
    return f"like:{post_id}:{user_id}"


def like_notify(*, post: Post, user: User) -> None:
    notify(user_id=post.author_id, type="post.liked", actor_id=user.pk, target=post_key(post.pk),
           data={"post_id": post.pk}, group_key=f"post.liked:{post.pk}", dedupe_key=_like_key(post.pk, user.pk))


def like_retract(*, post: Post, user: User) -> None:
    notification_retract(user_id=post.author_id, dedupe_key=_like_key(post.pk, user.pk))


def remix_notify(*, post: Post, parent: Post) -> None:
    from .selectors import visible_posts

    if not visible_posts(parent.author).filter(pk=post.pk).exists():
        return  # a private remix: its parent's author cannot open it
    notify(user_id=parent.author_id, type="post.remixed", actor_id=post.author_id, target=post_key(parent.pk),
           subject=post_key(post.pk), data={"post_id": parent.pk, "remix_id": post.pk},
           group_key=f"post.remixed:{parent.pk}")


def comment_notify(*, comment: Comment, post: Post, parent: Comment | None) -> None:
    data = {"post_id": post.pk, "comment_id": comment.pk}
    told = {comment.author_id}
    if parent is not None and parent.author_id not in told:
        notify(user_id=parent.author_id, type="comment.replied", actor_id=comment.author_id,
               target=post_key(post.pk), subject=comment_key(comment.pk), data={**data, "parent_id": parent.pk})
        told.add(parent.author_id)
    if post.author_id not in told:
        notify(user_id=post.author_id, type="post.commented", actor_id=comment.author_id,
               target=post_key(post.pk), subject=comment_key(comment.pk), data=data,
               group_key=f"post.commented:{post.pk}")
        told.add(post.author_id)
    _mentions_notify(comment.body, actor_id=comment.author_id, post=post, subject=comment_key(comment.pk),
                     data=data, skip=told)


def caption_mentions_notify(*, post: Post, previous_caption: str = "") -> None:
    """People newly named in the caption (an edit does not tell those named before again)."""
    before = set(mentioned_handles(previous_caption))
    _mentions_notify(post.caption, actor_id=post.author_id, post=post, subject=post_key(post.pk),
                     data={"post_id": post.pk}, skip={post.author_id}, already=before)


def mentioned_handles(text: str) -> list[str]:
    handles: list[str] = []
    for match in MENTION_RE.finditer(text or ""):
        handle = match.group(1).lower()
        if handle not in handles:
            handles.append(handle)
    return handles[:MENTIONS_MAX]


def _mentions_notify(text: str, *, actor_id: int, post: Post, subject: str, data: dict, skip: set[int],
                     already: set[str] = frozenset()) -> None:
    from .selectors import visible_posts  # selectors import services' neighbours; late to keep it one-way

    handles = [handle for handle in mentioned_handles(text) if handle not in already]
    if not handles:
        return
    actor = User.objects.select_related("market").get(pk=actor_id)
    for user in User.objects.annotate(handle_ci=Lower("handle")).filter(handle_ci__in=handles, is_active=True) \
            .select_related("market"):
        if user.pk in skip or not visible_posts(user).filter(pk=post.pk).exists():
            continue  # nobody is told of a post they may not see
        # A teen named by an adult they do not follow is not told (and so not reachable through
        # the caption): the text stays as written, refusing it would tell the adult the handle
        # is a teen's.
        if teen_shielded_from(user=user, actor=actor):
            continue
        notify(user_id=user.pk, type="mention", actor_id=actor_id, target=post_key(post.pk), subject=subject,
               data=data, dedupe_key=f"mention:{subject}:{user.pk}")


def post_notifications_delete(*post_ids: int) -> None:
    notifications_about_delete(*(post_key(pk) for pk in post_ids))


def comment_notifications_delete(comment_ids: list[int]) -> None:
    notifications_about_delete(*(comment_key(pk) for pk in comment_ids))


# --- texts -------------------------------------------------------------------------------------


def _others(group: Group) -> int:
    return max(group.actors_count - 1, 0)


def _liked(group: Group) -> tuple[str, str]:
    others = _others(group)
    if not others:
        return _("New like"), _("%(name)s liked your post.") % {"name": actor_name(group)}
    return _("New likes"), ngettext("%(name)s and %(count)d other liked your post.",
                                    "%(name)s and %(count)d others liked your post.",
                                    others) % {"name": actor_name(group), "count": others}


def _remixed(group: Group) -> tuple[str, str]:
    others = _others(group)
    if not others:
        return _("New remix"), _("%(name)s remixed your post.") % {"name": actor_name(group)}
    return _("New remixes"), ngettext("%(name)s and %(count)d other remixed your post.",
                                      "%(name)s and %(count)d others remixed your post.",
                                      others) % {"name": actor_name(group), "count": others}


def _commented(group: Group) -> tuple[str, str]:
    others = _others(group)
    if not others:
        return _("New comment"), _("%(name)s commented on your post.") % {"name": actor_name(group)}
    return _("New comments"), ngettext("%(name)s and %(count)d other commented on your post.",
                                       "%(name)s and %(count)d others commented on your post.",
                                       others) % {"name": actor_name(group), "count": others}


def _replied(group: Group) -> tuple[str, str]:
    return _("New reply"), _("%(name)s replied to your comment.") % {"name": actor_name(group)}


def _mentioned(group: Group) -> tuple[str, str]:
    return _("You were mentioned"), _("%(name)s mentioned you.") % {"name": actor_name(group)}


def _muted(recipient_id: int, actor_id: int) -> bool:
    return MutedAuthor.objects.filter(user_id=recipient_id, author_id=actor_id).exists()


def notification_types_register() -> None:
    day = timedelta(days=1)
    # Likes and remixes of a viral post arrive by the thousand: socket and push hear of a group
    # at most once a minute. Defaults: push for what people answer (comments, replies,
    # mentions), the inbox only for likes and remixes.
    for name, render, default, throttle in (
        ("post.liked", _liked, Channel.IN_APP, 60),
        ("post.remixed", _remixed, Channel.IN_APP, 60),
        ("post.commented", _commented, Channel.BOTH, 10),
        ("comment.replied", _replied, Channel.BOTH, 0),
        ("mention", _mentioned, Channel.BOTH, 0),
    ):
        notification_type_register(NotificationType(name=name, default=default, push_ttl=day, render=render,
                                                    throttle_seconds=throttle))
    notification_silencer_register(_muted)
