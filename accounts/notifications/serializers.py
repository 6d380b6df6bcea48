"""The inbox over HTTP: query parameters, bodies and the shapes it answers with."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers

from config.converters import ID_MAX
from config.errors import ApplicationError

from ..models import User
from ..serializers import avatar_url
from .registry import Channel, notification_types

TYPES_MAX = 20


def _unknown_types(names, field: str) -> ApplicationError:
    message = _("Unknown notification type: %(types)s.") % {"types": ", ".join(sorted(names))}
    return ApplicationError(message, code="validation_error",
                            fields={field: [{"code": "notification_type_unknown", "message": message}]})


class NotificationsQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False,
                                      help_text="Groups whose newest notification is older than this id "
                                                "(the `latest_id` of the last group of the page before).")
    types = serializers.CharField(required=False, max_length=1000,
                                  help_text="Comma-separated notification types to keep, e.g. post.liked,mention.")

    def validate_types(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()][:TYPES_MAX]
        unknown = set(names) - set(notification_types())
        if unknown:
            raise _unknown_types(unknown, "types")
        return names


class ActorSerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "handle", "display_name", "avatar_url"]
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user.avatar, self.context)


class NotificationGroupSerializer(serializers.Serializer):
    """One inbox entry: every notification with one group_key ("Ana and 12 others liked your post")."""

    group_key = serializers.CharField()
    type = serializers.CharField()
    title = serializers.CharField(help_text="In the reader's language, rendered now.")
    body = serializers.CharField(help_text="In the reader's language, rendered now.")
    count = serializers.IntegerField(help_text="Notifications in the group.")
    actors_count = serializers.IntegerField(help_text="Distinct people in the group.")
    sample_actors = ActorSerializer(many=True, help_text="The newest few, newest first.")
    latest_id = serializers.IntegerField(help_text="The id of its newest notification.")
    latest_at = serializers.DateTimeField()
    unread = serializers.BooleanField()
    data = serializers.DictField(help_text="Ids the app opens: post_id, comment_id, job_id, campaign_id...")


class UnreadCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Unread groups: the badge.")
    notifications = serializers.IntegerField(help_text="Unread notifications.")
    last_read_id = serializers.IntegerField()


class MarkReadInputSerializer(serializers.Serializer):
    up_to_id = serializers.IntegerField(min_value=0, max_value=ID_MAX,
                                        help_text="Everything up to this id is read (the marker never moves back).")


class NotificationSettingsSerializer(serializers.Serializer):
    settings = serializers.DictField(child=serializers.ChoiceField(choices=Channel.choices),
                                     help_text="Notification type -> in_app, push, both or off.")

    def validate_settings(self, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(notification_types())
        if unknown:
            raise _unknown_types(unknown, "settings")
        return value
