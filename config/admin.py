"""Admin building blocks shared by the apps."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.autocomplete import AutocompleteJsonView as DjangoAutocompleteJsonView
from django.http import HttpResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.admin import OTPAdminAuthenticationForm

from config.media import media_url

from config.errors import ApplicationError
from config.throttling import AdminLoginThrottle


@dataclass(frozen=True)
class Figure:
    """One number on the dashboard, linking to the admin list it counts (filtered)."""

    label: str
    value: int
    url: str
    alert: bool = False  # drawn in red: someone should look


# The dashboard's cards. config sits below every app and may not import them, so each app
# registers its card from its AppConfig.ready() (as feed extends generation's job state): the
# app that owns the rows owns the figures (read from its selectors) and the links to its
# changelists. A card is (title, a callable returning its figures); registered in app order.
DashboardCard = tuple[str, Callable[[], list[Figure]]]
_dashboard_cards: list[DashboardCard] = []


def dashboard_card_register(title: str, figures: Callable[[], list[Figure]]) -> None:
    if all(existing != title for existing, _figures in _dashboard_cards):
        _dashboard_cards.append((title, figures))


def dashboard() -> list[dict]:
    return [{"title": title, "figures": figures()} for title, figures in _dashboard_cards]


def video_player(video: str, poster: str = "") -> str:
    """An inline player for a stored video with its poster, both through signed URLs."""
    if not video and not poster:
        return "-"
    if not video:
        return format_html('<img src="{}" alt="poster" style="max-height:320px">', media_url(poster))
    return format_html('<video controls preload="metadata" src="{}" poster="{}" style="max-height:360px;'
                       'max-width:100%;background:#000"></video>', media_url(video), media_url(poster) or "")


class AutocompleteJsonView(DjangoAutocompleteJsonView):
    """A searchable select's results, labelled by the model admin's `autocomplete_label(obj)`
    where it has one (a post: its id, author handle and caption), else by str(obj)."""

    def serialize_result(self, obj, to_field_name):
        label = getattr(self.model_admin, "autocomplete_label", str)
        return {"id": str(getattr(obj, to_field_name)), "text": label(obj)}


class AdminSite(admin.AdminSite):
    """The admin site (`admin.site`, see config.apps). Its sign-in form is rate-limited per client
    IP, so one address cannot try password after password across accounts; each account is
    also locked after repeated failures wherever they come from (django-axes, accounts.lockout).
    Its index is the dashboard: the cards the apps register (dashboard_card_register)."""

    site_header = gettext_lazy("Clipsocial admin")
    site_title = gettext_lazy("Clipsocial admin")
    index_title = gettext_lazy("Dashboard")
    index_template = "clipsocial_admin/index.html"

    # With ADMIN_OTP_REQUIRED, staff also give a TOTP code at sign-in, and a session that has
    # not passed it is no staff session (django-otp's OTPAdminSite, switched by the setting).
    @property
    def login_form(self):
        return OTPAdminAuthenticationForm if settings.ADMIN_OTP_REQUIRED else None

    @property
    def login_template(self):
        return "otp/admin111/login.html" if settings.ADMIN_OTP_REQUIRED else None

    def has_permission(self, request):
        allowed = super().has_permission(request)
        return allowed and (not settings.ADMIN_OTP_REQUIRED or request.user.is_verified())

    def index(self, request, extra_context=None):
        return super().index(request, {"dashboard": dashboard(), **(extra_context or {})})

    def autocomplete_view(self, request):
        return AutocompleteJsonView.as_view(admin_site=self)(request)

    def login(self, request, extra_context=None):
        if request.method == "POST":
            throttle = AdminLoginThrottle()
            if not throttle.allow_request(request, None):
                wait = max(1, math.ceil(throttle.wait() or 1))
                message = _("Too many sign-in attempts from your address. Try again in %(seconds)d seconds.")
                return HttpResponse(message % {"seconds": wait}, status=429, headers={"Retry-After": str(wait)},
                                    content_type="text/plain; charset=utf-8")
        return super().login(request, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Mirrors of outside systems and audit rows: staff look, they never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def apply_to_each(modeladmin: admin.ModelAdmin, request, rows: Iterable, call: Callable, *, summary: str,
                  name: Callable = str, level: int = messages.SUCCESS) -> None:
    """An admin action's loop: `call` (a service) on each selected row. A row the service refuses
    (ApplicationError) gets a warning, `name(row): message`, and the others still run; then one
    message, `summary` with `{count}` the rows that went through. Each row that went through
    gets its audit row (`audit_log`)."""
    count = 0
    for row in rows:
        try:
            call(row)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{name(row)}: {exc.message}", level=messages.WARNING)
        else:
            count += 1
            audit_log(modeladmin, request, row)
    modeladmin.message_user(request, summary.format(count=count), level=level)


def audit_log(modeladmin: admin.ModelAdmin, request, row) -> None:
    """The one audit trail of staff actions in the admin: Django's admin log (LogEntry: who,
    which row, when), written for every row an action changed, as Django writes it for every
    add, change and delete. The message is the action's name and the reason typed with it.
    Domain trails (ModerationAction, CreditEntry.created_by) stay where they are; this one
    covers every action, including those whose service keeps no who (a payout marked paid, a
    job failed by staff)."""
    if request is None or getattr(request, "user", None) is None or not request.user.is_authenticated:
        return
    action = request.POST.get("action", "") if request.method == "POST" else ""
    reason = (request.POST.get("reason") or "").strip()
    message = f"{action}: {reason}" if action and reason else action or reason
    modeladmin.log_change(request, row, f"Action {message}" if message else "Action")


def service_action(description: str, call: Callable, *, summary: str, name: Callable = str,
                   level: int = messages.SUCCESS):
    """An admin action, labelled `description`, that runs `call(request, row)` on each selected
    row through `apply_to_each`."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        apply_to_each(modeladmin, request, queryset, lambda row: call(request, row), summary=summary, name=name,
                      level=level)

    return action


def selector_filter(title: str, parameter: str, value: str, label: str,
                    rows: Callable[[], Iterable]) -> type[admin.SimpleListFilter]:
    """A list filter with one choice: the rows a selector returns (a queryset of the model).
    The dashboard's figures link to these, so a figure and its list count the same rows."""

    class SelectorFilter(admin.SimpleListFilter):
        parameter_name = parameter

        def lookups(self, request, model_admin):
            return [(value, label)]

        def queryset(self, request, queryset):
            if self.value() == value:
                return queryset.filter(pk__in=rows().values("pk"))
            return queryset

    SelectorFilter.title = title
    return SelectorFilter
