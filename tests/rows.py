"""What 'nothing changed' means in a negative test of a request: no table of ours gained or
lost a row."""

from __future__ import annotations

from django.apps import apps

OUR_APPS = ("accounts", "billing", "generation", "feed", "creators")


def table_rows() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.app_label in OUR_APPS and not m._meta.proxy}
