from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import UserSummarySerializer, avatar_url
from config.http import IdField
from config.media import media_url
from generation.services import ALLOWED_DURATIONS, ALLOWED_SIZES, PROMPT_MAX_LENGTH

from .models import Comment, Post, RemixPolicy, Report, Share, Visibility
from .renditions import CardRendition, rendition_choose
from .selectors import Card

# The serializer context's key for the language whose rendition a card plays: a language code,
# or None for the original. Absent: the request's language (accounts.i18n).
SERVE_LANGUAGE = "serve_language"


class PostRefSerializer(serializers.Serializer):
    """The parent or root of a remix: enough to show "remix of @x", or "removed"."""

    id = serializers.IntegerField()
    author = serializers.DictField(allow_null=True)
    removed = serializers.BooleanField()


class RemovedPostSerializer(serializers.Serializer):
    """A link of a remix chain the viewer cannot see (deleted, removed, private, blocked)."""

    id = serializers.IntegerField()
    removed = serializers.BooleanField()


def _datetime(value: datetime) -> str:
    """What DRF's DateTimeField writes (ISO 8601 in TIME_ZONE, UTC as "Z"), without its
    per-call lookup of the active time zone through asgiref's Local, which cost 20 us a post.
    The app never activates another time zone than the default one."""
    text = value.astimezone(timezone.get_default_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class CardRenditionSerializer(serializers.Serializer):
    """A succeeded rendition of a post's video (feed.renditions.CardRendition)."""

    language = serializers.CharField(help_text="BCP 47 tag: es, pt-BR, zh-Hans.")
    dubbed = serializers.BooleanField(help_text="Its audio is speech in `language`.")
    burned_in = serializers.BooleanField(help_text="The subtitles are drawn into the picture.")
    video_url = serializers.URLField(help_text="MP4 with a soft subtitle track in `language`.")
    subtitles_url = serializers.URLField(allow_null=True, help_text="WebVTT of the subtitles.")


def rendition_data(rendition: CardRendition) -> dict:
    return {"language": rendition.language, "dubbed": rendition.dubbed, "burned_in": rendition.burned_in,
            "video_url": media_url(rendition.video), "subtitles_url": media_url(rendition.subtitles)}


class PostSerializer(serializers.ModelSerializer):
    """Writes out a `selectors.Card` (not a Post: cards are read in one statement a page). The
    declared fields are the schema, and a test holds `to_representation` to them.

    `video_url` plays the rendition in the viewer's language when the post has one
    (feed.renditions.rendition_choose; `?lang=` picks another language, `?original=1` the
    original), `served_language` says which language that is, and `original_video_url` is the
    original always."""

    author = UserSummarySerializer()
    video_url = serializers.SerializerMethodField(
        help_text="The rendition in the viewer's language, else the original.")
    original_video_url = serializers.SerializerMethodField()
    served_language = serializers.SerializerMethodField(
        help_text="The language of `video_url`: a rendition's BCP 47 tag, or the post's language for "
                  "the original (null when unknown).")
    renditions = CardRenditionSerializer(many=True, help_text="The succeeded renditions, by language.")
    poster_url = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    liked = serializers.BooleanField()
    parent = PostRefSerializer(allow_null=True)
    root = PostRefSerializer(allow_null=True)

    class Meta:
        model = Post
        fields = [
            "id", "author", "caption", "hashtags", "language", "visibility", "remix_policy", "video_url",
            "original_video_url", "served_language", "renditions", "poster_url", "duration_seconds", "counts",
            "liked", "parent", "root", "created_at",
        ]
        read_only_fields = fields

    def _served(self, card: Card) -> CardRendition | None:
        if not card.renditions:
            return None
        if SERVE_LANGUAGE not in self.context:  # once a page: get_language reads asgiref's Local
            self.context[SERVE_LANGUAGE] = get_language()
        return rendition_choose(card.renditions, self.context[SERVE_LANGUAGE])

    def get_video_url(self, card: Card) -> str | None:
        served = self._served(card)
        return media_url(served.video if served is not None else card.video)

    def get_original_video_url(self, card: Card) -> str | None:
        return media_url(card.video)

    def get_served_language(self, card: Card) -> str | None:
        served = self._served(card)
        return served.language if served is not None else card.language or None

    def get_poster_url(self, card: Card) -> str | None:
        return media_url(card.poster)

    def to_representation(self, card: Card) -> dict:
        """The same dict as the declared fields give, built directly: feed pages serialize up to
        50 posts a request, and DRF's field-by-field walk was a fifth of a feed page's time
        (bench/RESULTS.md)."""
        author = card.author
        served = self._served(card)
        return {
            "id": card.id,
            "author": {"id": author.id, "handle": author.handle, "display_name": author.display_name,
                       "avatar_url": avatar_url(author.avatar, self.context)},
            "caption": card.caption,
            "hashtags": card.hashtags,
            "language": card.language,
            "visibility": card.visibility,
            "remix_policy": card.remix_policy,
            "video_url": media_url(served.video if served is not None else card.video),
            "original_video_url": media_url(card.video),
            "served_language": served.language if served is not None else card.language or None,
            "renditions": [rendition_data(r) for r in card.renditions],
            "poster_url": media_url(card.poster),
            "duration_seconds": card.duration_seconds,
            "counts": card.counts,
            "liked": card.liked,
            "parent": card.parent,
            "root": card.root,
            "created_at": _datetime(card.created_at),
        }


class CaptionTranslationSerializer(serializers.Serializer):
    language = serializers.CharField(help_text="The viewer's language (BCP 47) the caption is translated into.")
    source_language = serializers.CharField(help_text="The post's language.")
    text = serializers.CharField()
    backend = serializers.CharField(help_text="The translation backend: `apertium` (offline) or `remote`.")


class PostDetailSerializer(PostSerializer):
    """One post (`/posts/{id}`): a card, and with `?translate=1` its caption in the viewer's
    language (null when not asked, already in it, or no translation exists for the pair)."""

    caption_translation = serializers.SerializerMethodField()

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "caption_translation"]
        read_only_fields = fields

    @extend_schema_field(CaptionTranslationSerializer(allow_null=True))
    def get_caption_translation(self, card: Card) -> dict | None:
        found = self.context.get("caption_translation")
        return None if found is None else CaptionTranslationSerializer(found).data

    def to_representation(self, card: Card) -> dict:
        return {**super().to_representation(card), "caption_translation": self.get_caption_translation(card)}



class PostCreateSerializer(serializers.Serializer):
    generation_id = serializers.UUIDField()
    caption = serializers.CharField(max_length=2200, required=False, allow_blank=True, default="")
    # Absent: the author's default (public and everyone; followers for a teen, accounts.selectors).
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False, default=None)
    remix_policy = serializers.ChoiceField(choices=RemixPolicy.choices, required=False, default=None)
    language = serializers.RegexField(r"^[a-z]{2,3}$", required=False, default="")
    # Market codes whose languages the video is localised into (subtitles), charged to the author.
    localize_markets = serializers.ListField(child=serializers.CharField(max_length=16), required=False,
                                             default=list, max_length=20)


class PostUpdateSerializer(serializers.Serializer):
    caption = serializers.CharField(max_length=2200, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    remix_policy = serializers.ChoiceField(choices=RemixPolicy.choices, required=False)
    language = serializers.RegexField(r"^[a-z]{2,3}$", required=False)
    localize_markets = serializers.ListField(child=serializers.CharField(max_length=16), required=False,
                                             max_length=20)


class RemixCreateSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=PROMPT_MAX_LENGTH)
    duration_seconds = serializers.ChoiceField(choices=ALLOWED_DURATIONS)
    size = serializers.ChoiceField(choices=ALLOWED_SIZES)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1, default=None)
    style = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class CommentSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer()

    class Meta:
        model = Comment
        fields = ["id", "post_id", "parent_id", "author", "body", "replies_count", "created_at"]
        read_only_fields = fields


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=1000)
    parent_id = IdField(required=False, allow_null=True, default=None)


class ShareCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Share.Channel.choices)


class ShareSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Share
        fields = ["id", "post_id", "channel", "token", "url", "clicks_count", "created_at"]
        read_only_fields = fields

    def get_url(self, share: Share) -> str:
        return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/s/{share.token}"


class ReportCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class PreferencesSerializer(serializers.Serializer):
    personalized = serializers.BooleanField()


class ViewsSerializer(serializers.Serializer):
    post_ids = serializers.ListField(child=IdField(), min_length=1, max_length=100)
    # How long the feed was on screen since the last batch: counts towards the daily feed limit.
    watch_seconds = serializers.IntegerField(required=False, default=0, min_value=0, max_value=3600)
