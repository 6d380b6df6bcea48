from __future__ import annotations

import warnings

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError
from rest_framework import serializers

from config.http import SingleLineField
from config.media import media_url

from .i18n import bcp47, user_language
from .models import HANDLE_REGEX, Device, User
from .selectors import user_is_teen, user_protections


def avatar_url(avatar, context: dict) -> str | None:
    """The URL of a user's avatar (the field's file, or its storage name; "" for none): a signed
    one like every stored file's (config.media), absolute whatever the request."""
    name = getattr(avatar, "name", avatar)
    return media_url(name) if name else None


class MeSerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id", "email", "handle", "display_name", "avatar_url", "bio", "locale", "country", "birth_year",
            "market", "language", "followers_count", "following_count", "created_at", "updated_at",
            "is_teen", "protections",
        ]
        read_only_fields = fields

    is_teen = serializers.SerializerMethodField(help_text="Whether teen protections apply to the user now.")
    protections = serializers.SerializerMethodField(
        help_text="The user's protections: is_teen, public_posts_allowed, strangers_may_interact, "
                  "cash_payouts_available, daily_feed_minutes (null: no limit).")

    def get_is_teen(self, user: User) -> bool:
        return user_is_teen(user)

    def get_protections(self, user: User) -> dict:
        return user_protections(user)

    market = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True,
                                          help_text="The user's market (from `country`), or null.")
    language = serializers.SerializerMethodField(help_text="The language texts are shown in (BCP 47).")

    def get_language(self, user: User) -> str:
        return bcp47(user_language(user))

    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user.avatar, self.context)


class PublicUserSerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()
    is_following = serializers.SerializerMethodField()
    is_blocked = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id", "handle", "display_name", "avatar_url", "bio", "followers_count", "following_count",
            "created_at", "is_following", "is_blocked",
        ]
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user.avatar, self.context)

    def get_is_following(self, user: User) -> bool:
        return bool(getattr(user, "viewer_follows", False))

    def get_is_blocked(self, user: User) -> bool:
        return bool(getattr(user, "viewer_blocked", False))


class UserSummarySerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "handle", "display_name", "avatar_url"]
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user.avatar, self.context)


class SignupInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    handle = serializers.RegexField(HANDLE_REGEX, max_length=30)
    display_name = SingleLineField(max_length=60, required=False, default="", allow_blank=True)
    birth_year = serializers.IntegerField(required=False, allow_null=True, default=None)
    locale = SingleLineField(max_length=16, required=False, default="", allow_blank=True)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, default="", allow_blank=True)


class LoginInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048)


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class FirebaseInputSerializer(serializers.Serializer):
    id_token = serializers.CharField(max_length=8192)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class AuthResultSerializer(TokenPairSerializer):
    user = MeSerializer()
    created = serializers.BooleanField(required=False)


class AvatarField(serializers.ImageField):
    """An image of bounded bytes and pixels. A few KB of PNG can declare 144 megapixels, which
    any client would have to decode: the pixel count is read from the header, before Django's
    image check opens the file, and nothing here ever decodes the pixels."""

    def to_internal_value(self, data):
        if hasattr(data, "size") and data.size > settings.ACCOUNTS_AVATAR_MAX_BYTES:
            raise serializers.ValidationError(
                _("The avatar must be %(megabytes)d MB or smaller.")
                % {"megabytes": settings.ACCOUNTS_AVATAR_MAX_BYTES // (1024 * 1024)},
                code="avatar_too_large")
        if hasattr(data, "seek") and _pixels(data) > settings.ACCOUNTS_AVATAR_MAX_PIXELS:
            raise serializers.ValidationError(
                _("The avatar must have at most %(pixels)d pixels.") % {"pixels": settings.ACCOUNTS_AVATAR_MAX_PIXELS},
                code="image_too_many_pixels")
        return super().to_internal_value(data)


def _pixels(file) -> float:
    """Width x height from the image's header (0 when it is not an image Pillow reads: Django's
    check says so next; infinite when Pillow itself calls it a decompression bomb)."""
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused here instead
            with Image.open(file) as img:
                width, height = img.size
        return width * height
    except Image.DecompressionBombError:
        return float("inf")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 0
    finally:
        file.seek(0)


class MeUpdateInputSerializer(serializers.Serializer):
    handle = serializers.RegexField(HANDLE_REGEX, max_length=30, required=False)
    display_name = SingleLineField(max_length=60, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=280, required=False, allow_blank=True)
    locale = SingleLineField(max_length=16, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    birth_year = serializers.IntegerField(required=False, allow_null=True)
    avatar = AvatarField(required=False)
    # Null: the default for the user's age (a teen's TEEN_DAILY_FEED_MINUTES, no limit for adults).
    daily_feed_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=24 * 60)


class DeviceInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    app_version = SingleLineField(max_length=32, required=False, default="", allow_blank=True)
    locale = SingleLineField(max_length=16, required=False, default="", allow_blank=True)


class DeviceDeleteInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)


class DeviceSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="fcm_token")

    class Meta:
        model = Device
        fields = ["id", "token", "platform", "app_version", "locale", "created_at", "last_seen_at"]
        read_only_fields = fields


class FollowerEdgeSerializer(serializers.Serializer):
    user = UserSummarySerializer(source="follower")
    followed_at = serializers.DateTimeField(source="created_at")


class FollowingEdgeSerializer(serializers.Serializer):
    user = UserSummarySerializer(source="followee")
    followed_at = serializers.DateTimeField(source="created_at")


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0,
                                     help_text="The last seq the device has; events after it come back.")


class EventSerializer(serializers.Serializer):
    """A frame as the socket sends it: `type`, `seq` and the type's own fields."""

    type = serializers.CharField()
    seq = serializers.IntegerField()

    def to_representation(self, instance):
        return instance
