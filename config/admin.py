"""Admin building blocks shared by the apps."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from config.throttling import AdminLoginThrottle


class AdminSite(admin.AdminSite):
    """The admin site (`admin.site`, see config.apps). Its sign-in form is rate-limited per client
    IP, so one address cannot try password after password across accounts; each account is
    also locked after repeated failures wherever they come from (django-axes, accounts.lockout)."""

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
    message, `summary` with `{count}` the rows that went through."""
    count = 0
    for row in rows:
        try:
            call(row)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{name(row)}: {exc.message}", level=messages.WARNING)
        else:
            count += 1
    modeladmin.message_user(request, summary.format(count=count), level=level)


def service_action(description: str, call: Callable, *, summary: str, name: Callable = str,
                   level: int = messages.SUCCESS):
    """An admin action, labelled `description`, that runs `call(request, row)` on each selected
    row through `apply_to_each`."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        apply_to_each(modeladmin, request, queryset, lambda row: call(request, row), summary=summary, name=name,
                      level=level)

    return action
