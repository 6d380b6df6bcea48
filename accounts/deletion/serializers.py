from __future__ import annotations

from rest_framework import serializers

from ..models import AccountDeletion


class DeletionRequestInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False, required=False, default="",
                                     allow_blank=True)
    id_token = serializers.CharField(max_length=8192, required=False, default="", allow_blank=True,
                                     help_text="A Firebase ID token of a sign-in at most 5 minutes old.")
    confirm_store_subscription = serializers.BooleanField(
        required=False, default=False,
        help_text="Delete although an App Store / Google Play subscription is active (only the store can "
                  "cancel it).")


class DeletionCancelInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False, default="", allow_blank=True)
    password = serializers.CharField(max_length=128, trim_whitespace=False, required=False, default="",
                                     allow_blank=True)
    id_token = serializers.CharField(max_length=8192, required=False, default="", allow_blank=True)


class DeletionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = AccountDeletion
        fields = ["status", "requested_at", "purge_after"]
        read_only_fields = fields

    def get_status(self, obj: AccountDeletion) -> str:
        return "pending_deletion"
