import uuid

from django import forms
from django.contrib import admin

from accounts.models import User

from . import services
from .models import CreditAccount, CreditEntry


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "available", "reserved", "updated_at")
    search_fields = ("user__handle", "user__email")
    readonly_fields = ("user", "available", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustmentForm(forms.ModelForm):
    """Staff never edit the ledger: they add an adjustment entry, with a reason."""

    user = forms.ModelChoiceField(queryset=User.objects.all(), widget=forms.TextInput,
                                  help_text="User id")
    amount = forms.IntegerField(help_text="Credits to add (negative to remove).")
    reason = forms.CharField(max_length=300, required=True)

    class Meta:
        model = CreditEntry
        fields = ("user", "amount", "reason")


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "available_delta", "reserved_delta", "available_after",
                    "reserved_after", "reference", "reason", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("user__handle", "user__email", "reference", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("user", "created_by")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            return AdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in CreditEntry._meta.fields] if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["user", "amount", "reason"] if obj is None else [f.name for f in CreditEntry._meta.fields]

    def save_model(self, request, obj, form, change):
        entry = services.credits_adjust(
            user_id=form.cleaned_data["user"].pk, amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"], staff_id=request.user.pk, key=f"adjustment:{uuid.uuid4()}",
        )
        obj.pk = entry.pk

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False
