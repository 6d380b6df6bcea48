"""The campaign builder's form: markets and languages picked from lists, the template post
from a searchable select."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.html import format_html
from django.utils.translation import gettext as _

from feed.admin import PostAdmin

from . import selectors
from .models import Campaign


class _PickMany(FilteredSelectMultiple):
    """The admin's two-list picker with a filter box, wrapped (as Django wraps a many-to-many
    field's) so the label stays left of it."""

    def __init__(self, name: str):
        super().__init__(name, is_stacked=False)

    def render(self, name, value, attrs=None, renderer=None):
        return format_html('<div class="related-widget-wrapper">{}</div>', super().render(name, value, attrs, renderer))


class CampaignForm(forms.ModelForm):
    # Picked from lists, not typed as JSON: the markets the app prices or its users declared,
    # and the languages it knows (creators.selectors); codes a campaign already has stay listed.
    countries = forms.MultipleChoiceField(required=False, widget=_PickMany("countries"),
                                          help_text="None selected: every country.")
    languages = forms.MultipleChoiceField(required=False, widget=_PickMany("languages"),
                                          help_text="None selected: every language.")

    class Meta:
        model = Campaign
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance if self.instance.pk else None
        countries = set(selectors.market_country_codes()) | set(current.countries if current else [])
        self.fields["countries"].choices = [(c, c) for c in sorted(countries)]
        languages = dict(selectors.market_languages())
        for code in current.languages if current else []:
            languages.setdefault(code, code)
        self.fields["languages"].choices = [(code, f"{name} ({code})") for code, name in languages.items()]
        if "template_post" in self.fields:  # the selected post reads as in the search results
            self.fields["template_post"].label_from_instance = PostAdmin.autocomplete_label

    def clean_hashtag(self) -> str:
        return self.cleaned_data["hashtag"].strip().lstrip("#").lower()

    def clean_countries(self) -> list[str]:
        return sorted({c.upper() for c in self.cleaned_data["countries"]})

    def clean_languages(self) -> list[str]:
        return sorted({selectors.base_language(c) for c in self.cleaned_data["languages"]})

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().lower()

    def clean(self):
        data = super().clean()
        kind, currency = data.get("budget_kind"), data.get("currency", "")
        if kind == Campaign.BudgetKind.CASH and len(currency or "") != 3:
            self.add_error("currency", _("A cash budget needs a currency, e.g. usd."))
        if kind == Campaign.BudgetKind.CREDITS and currency:
            self.add_error("currency", _("A credits budget has no currency."))
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The end must come after the start."))
        return data
