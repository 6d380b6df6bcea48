from __future__ import annotations

from rest_framework import serializers

from .models import CameoLevel, CameoStatus, GrantStatus


class ChallengeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    phrase = serializers.CharField(help_text="Say this in the clip.")
    expires_at = serializers.DateTimeField()


class CameoCreateSerializer(serializers.Serializer):
    clip = serializers.FileField()
    challenge_id = serializers.UUIDField()
    name = serializers.CharField(max_length=60)
    level = serializers.ChoiceField(choices=CameoLevel.choices, default=CameoLevel.ONLY_ME)
    restrictions = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class CameoUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60, required=False)
    level = serializers.ChoiceField(choices=CameoLevel.choices, required=False)
    restrictions = serializers.CharField(max_length=500, required=False, allow_blank=True)


class CameoSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    owner = serializers.CharField(source="owner.handle")
    name = serializers.CharField()
    level = serializers.ChoiceField(choices=CameoLevel.choices)
    restrictions = serializers.CharField()
    status = serializers.ChoiceField(choices=CameoStatus.choices)
    created_at = serializers.DateTimeField()


class GrantSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.handle")
    user_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=GrantStatus.choices)
    updated_at = serializers.DateTimeField()


class AppearanceSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    user = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    post_id = serializers.IntegerField(allow_null=True)
    post_status = serializers.CharField(allow_null=True)
