from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import AccountExport
from .selectors import account_export_download_url, account_export_next_allowed_at


class AccountExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(
        help_text="While ready and unexpired: where the ZIP downloads (with the bearer token for the API's "
                  "own link; a presigned storage URL needs none). Null otherwise.")
    next_allowed_at = serializers.SerializerMethodField(
        help_text="When another export may be asked for; null: now.")

    class Meta:
        model = AccountExport
        fields = ["id", "status", "created_at", "finished_at", "expires_at", "size_bytes", "download_url",
                  "next_allowed_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, export: AccountExport) -> str | None:
        return account_export_download_url(export)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_allowed_at(self, export: AccountExport):
        when = account_export_next_allowed_at(user_id=export.user_id)
        return serializers.DateTimeField().to_representation(when) if when else None
