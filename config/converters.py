"""Path converters for the text parts of our URLs.

Each bounds its part to the characters and length such a value can have, so that anything else
(a NUL byte, which PostgreSQL refuses in text, a 10 KB "handle", a hashtag longer than the
column) is a 404 before any view or query sees it. They check the shape only: whether a user,
hashtag or share exists is still the view's answer. Registered in config.urls.
"""

from __future__ import annotations

import uuid

# The range of a BigAutoField (every model's integer primary key: DEFAULT_AUTO_FIELD and the
# apps' default_auto_field). Ids start at 1, so 0 names nothing.
ID_MAX = 2**63 - 1
NO_ID = 0
NO_UUID = uuid.UUID(int=0)  # uuid4 never makes the nil UUID


class _Text:
    regex = ""

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class HandleConverter(_Text):
    # accounts.models.HANDLE_REGEX is the rule for a new handle; this is the looser shape of any
    # handle (up to 30 of its characters), which config may state without importing accounts.
    regex = r"[A-Za-z0-9_.]{1,30}"


class HashtagConverter(_Text):
    # feed.captions.HASHTAG_RE: up to 100 word characters; a leading '#' is dropped there.
    regex = r"#?\w{1,100}"


class ShareTokenConverter(_Text):
    # feed.models.Share.token: secrets.token_urlsafe, at most 20 characters.
    regex = r"[A-Za-z0-9_-]{1,20}"


class GroupKeyConverter(_Text):
    # accounts.Notification.group_key: "<type>:<what>", at most 160 characters.
    regex = r"[A-Za-z0-9_.:-]{1,160}"


class SignedTokenConverter(_Text):
    # django.core.signing.dumps: URL-safe base64, ':' separators, '.' before compressed data.
    regex = r"[A-Za-z0-9_\-:.]{1,1024}"


class IdConverter(_Text):
    """An integer primary key. Any other text in its place (not a number, out of the column's
    range) is an id that names nothing, so the view answers it as it answers an unknown id:
    `/posts/abc` and `/posts/9223372036854775808` are the same 404 `post_not_found` as
    `/posts/123` that does not exist, and no out-of-range number reaches the database (SQLite
    raised OverflowError on one, a 500)."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> int:  # type: ignore[override]
        if value.isascii() and value.isdigit() and len(value) <= 19:
            number = int(value)
            if number <= ID_MAX:
                return number
        return NO_ID

    def to_url(self, value) -> str:  # type: ignore[override]
        return str(value)


class UuidIdConverter(_Text):
    """A UUID primary key; any other text is the nil UUID, which names nothing (see IdConverter)."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> uuid.UUID:  # type: ignore[override]
        try:
            return uuid.UUID(value) if len(value) <= 45 else NO_UUID
        except ValueError:
            return NO_UUID

    def to_url(self, value) -> str:  # type: ignore[override]
        return str(value)
