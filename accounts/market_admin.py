"""Markets in the admin: countries, languages, time zone and stores picked from lists."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from babel import Locale
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

from .models import Market

LANGUAGE_SLOTS = 4  # languages in order: one select each, so the order is the staff's


@lru_cache(maxsize=16)
def _country_choices(language: str) -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 codes with their names in the admin's language (CLDR, through babel)."""
    try:
        territories = Locale.parse(to_locale(language)).territories
    except (ValueError, LookupError):
        territories = Locale("en").territories
    return sorted(((code, f"{name} ({code})") for code, name in territories.items()
                   if len(code) == 2 and code.isalpha() and code not in {"ZZ", "XA", "XB"}), key=lambda c: c[1])


@lru_cache(maxsize=1)
def _time_zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _language_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *((code, f"{name} ({code})") for code, name in settings.LANGUAGES)]


class MarketForm(forms.ModelForm):
    countries = forms.MultipleChoiceField(label=_("countries"), required=False,
                                          widget=FilteredSelectMultiple(_("countries"), is_stacked=False))
    time_zone = forms.ChoiceField(label=_("time zone"))
    stores = forms.MultipleChoiceField(label=_("stores"), required=False, choices=Market.Store.choices,
                                       widget=forms.CheckboxSelectMultiple)
    # Declared (not only added in __init__) so the admin's fieldsets may name them.
    language_1 = forms.ChoiceField(label=_("first language"))
    language_2 = forms.ChoiceField(label=_("second language"), required=False)
    language_3 = forms.ChoiceField(label=_("third language"), required=False)
    language_4 = forms.ChoiceField(label=_("fourth language"), required=False)

    class Meta:
        model = Market
        exclude = ("languages",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["countries"].choices = _country_choices(get_language() or "en")
        self.fields["time_zone"].choices = _time_zones()
        current = list(self.instance.languages or [])
        for slot in range(LANGUAGE_SLOTS):
            field = self.fields[f"language_{slot + 1}"]
            field.choices = _language_choices()
            field.initial = current[slot] if slot < len(current) else ""

    def clean_countries(self) -> list[str]:
        countries = sorted({c.upper() for c in self.cleaned_data["countries"]})
        taken = {c: m for m in Market.objects.exclude(pk=self.instance.pk) for c in m.countries}
        clashes = [f"{c} ({taken[c].code})" for c in countries if c in taken]
        if clashes:
            raise forms.ValidationError(_("Already in another market: %(countries)s.")
                                        % {"countries": ", ".join(clashes)})
        return countries

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().lower()
        if len(currency) != 3 or not currency.isalpha():
            raise forms.ValidationError(_("A lowercase ISO 4217 code, e.g. usd."))
        return currency

    def clean(self):
        data = super().clean()
        languages: list[str] = []
        for slot in range(LANGUAGE_SLOTS):
            code = data.get(f"language_{slot + 1}")
            if code and code not in languages:
                languages.append(code)
        self.instance.languages = languages
        if data.get("teen_age") is not None and data.get("min_signup_age") is not None \
                and data["teen_age"] < data["min_signup_age"]:
            self.add_error("teen_age", _("Teen protections must apply at least up to the sign-up age."))
        return data


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    form = MarketForm
    list_display = ("code", "name", "currency", "language_list", "time_zone", "min_signup_age", "teen_age",
                    "billing_offered")
    search_fields = ("code", "name")

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ("code", "name", "countries")}),
            (_("Languages"), {"fields": [f"language_{slot + 1}" for slot in range(LANGUAGE_SLOTS)]}),
            (_("Rules"), {"fields": ("currency", "time_zone", "min_signup_age", "teen_age", "blocked_terms",
                                     "region_boost")}),
            (_("Billing"), {"fields": ("billing_offered", "stores")}),
        ]

    @admin.display(description=_("languages"))
    def language_list(self, market: Market) -> str:
        return ", ".join(market.languages)
