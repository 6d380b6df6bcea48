"""The prompt policy: checked before anything is queued or charged.

Pluggable (GENERATION_PROMPT_POLICY names the class) so a classifier can replace
or wrap the rule set later. The default refuses configurable blocked terms in any
language and names of real people who have not consented (the cameo feature
will pass the names a user has consent for).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from accounts.models import Market
from config.errors import ApplicationError

# A small built-in floor; operators extend it per language with GENERATION_BLOCKED_TERMS.
DEFAULT_BLOCKED_TERMS: dict[str, list[str]] = {
    "en": ["child sexual", "csam", "beheading", "gore video", "bomb making", "nude minor", "revenge porn"],
    "es": ["pornografía infantil", "decapitación"],
    "pt": ["pornografia infantil", "decapitação"],
    "fr": ["pédopornographie", "décapitation"],
    "de": ["kinderpornografie", "enthauptung"],
}
DEFAULT_PROTECTED_NAMES = ["Taylor Swift", "Donald Trump", "Joe Biden", "Elon Musk", "Barack Obama", "Pope Francis"]


class PromptRejected(ApplicationError):
    code = "prompt_rejected"
    status_code = 422


class PromptPolicy(Protocol):
    def check(self, *, prompt: str, user_id: int, consented_names: Iterable[str] = ()) -> None:
        """Raise PromptRejected when the prompt may not be generated."""


def normalise(text: str) -> str:
    """Case-, accent-width- and punctuation-insensitive form with single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " " + re.sub(r"[\W_]+", " ", text).strip() + " "


class RuleBasedPromptPolicy:
    def __init__(self) -> None:
        terms: set[str] = set()
        for source in (DEFAULT_BLOCKED_TERMS, settings.GENERATION_BLOCKED_TERMS):
            for words in source.values():
                terms.update(normalise(w) for w in words if w.strip())
        self.blocked = sorted(terms)
        names = settings.GENERATION_PROTECTED_NAMES or DEFAULT_PROTECTED_NAMES
        self.protected = {normalise(n): n for n in names if n.strip()}

    def check(self, *, prompt: str, user_id: int, consented_names: Iterable[str] = ()) -> None:
        text = normalise(prompt)
        for term in [*self.blocked, *market_blocked_terms(user_id)]:
            if term in text:
                raise PromptRejected(_("This prompt asks for content we do not generate."),
                                     fields={"prompt": [{"code": "blocked_term", "message": term.strip()}]})
        consented = {normalise(n) for n in consented_names}
        for key, name in self.protected.items():
            if key in text and key not in consented:
                raise PromptRejected(_("We do not generate real people without their consent (%(name)s).") % {"name": name},
                                     fields={"prompt": [{"code": "real_person", "message": name}]})


def market_blocked_terms(user_id: int) -> list[str]:
    """The blocked prompt terms of the user's market (staff edit them in the admin), normalised."""
    terms = Market.objects.filter(users__pk=user_id).values_list("blocked_terms", flat=True).first() or ""
    return [normalise(line) for line in terms.splitlines() if line.strip()]


@lru_cache(maxsize=4)
def _policy_for(path: str, _terms: str, _names: str) -> PromptPolicy:
    return import_string(path)()


def get_prompt_policy() -> PromptPolicy:
    # Keyed by the settings so a change (tests, reload) builds a fresh policy.
    return _policy_for(settings.GENERATION_PROMPT_POLICY, repr(settings.GENERATION_BLOCKED_TERMS),
                       repr(settings.GENERATION_PROTECTED_NAMES))
