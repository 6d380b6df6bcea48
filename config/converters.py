"""Path converters for the text parts of our URLs.

Each bounds its part to the characters and length such a value can have, so that anything else
(a NUL byte, which PostgreSQL refuses in text, a 10 KB "handle", a hashtag longer than the
column) is a 404 before any view or query sees it. They check the shape only: whether a user,
hashtag or share exists is still the view's answer. Registered in config.urls.
"""

from __future__ import annotations


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
    # feed.services.HASHTAG_RE: up to 100 word characters; a leading '#' is dropped there.
    regex = r"#?\w{1,100}"


class ShareTokenConverter(_Text):
    # feed.models.Share.token: secrets.token_urlsafe, at most 20 characters.
    regex = r"[A-Za-z0-9_-]{1,20}"


class SignedTokenConverter(_Text):
    # django.core.signing.dumps: URL-safe base64, ':' separators, '.' before compressed data.
    regex = r"[A-Za-z0-9_\-:.]{1,1024}"
