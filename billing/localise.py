"""Plans and packs as a person reads them: names and descriptions in their language, prices
in their currency formatted for their locale (babel, from CLDR: symbol, separators, digits and
where the symbol goes)."""

from __future__ import annotations

from babel.numbers import format_currency, get_currency_precision
from django.conf import settings
from django.utils.translation import get_language, to_locale

from accounts.i18n import supported


def _babel_locale(language: str | None) -> str:
    return to_locale(language or settings.LANGUAGE_CODE)


def price_display(unit_amount: int, currency: str, *, language: str | None = None) -> str:
    """`unit_amount` minor units of `currency` (Stripe's: cents; whole yen for jpy) for people,
    e.g. "$9.99", "9,99 €", "￥1,200", "R$ 49,90", "₹799.00"."""
    code = currency.upper()
    amount = unit_amount / (10 ** get_currency_precision(code))
    return format_currency(amount, code, locale=_babel_locale(language or get_language()))


def localised_text(item, *, language: str | None = None) -> tuple[str, str]:
    """(name, description) of a plan or pack in `language` (the active one by default): its
    text in that language, else in the base language's variant, else its own fields."""
    language = supported(language or get_language()) or settings.LANGUAGE_CODE
    texts = {text.language.lower(): text for text in item.texts.all()}
    for code in (language, language.split("-")[0]):
        if code in texts:
            return texts[code].name, texts[code].description or item.description
    return item.name, item.description
