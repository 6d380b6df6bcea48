"""Functions that change billing state.

`ledger`: the credit ledger (grant, reserve, capture, release, adjust, expire, claw back).
`checkout`: the user's purchases (customer, Checkout Sessions, plan changes, portal).
`subscriptions`: state from Stripe (subscriptions, paid invoices, checkouts, refunds).
`webhooks`: Stripe webhook verification, storage, processing and replay.

The ledger functions are re-exported here: other apps call `billing.services.credits_*`.
"""

from config.errors import ApplicationError

from .ledger import (
    InsufficientCredits,
    credits_adjust,
    credits_capture,
    credits_clawback,
    credits_expire_due,
    credits_expire_sweep,
    credits_grant,
    credits_release,
    credits_reserve,
)

__all__ = [
    "ApplicationError",
    "InsufficientCredits",
    "credits_adjust",
    "credits_capture",
    "credits_clawback",
    "credits_expire_due",
    "credits_expire_sweep",
    "credits_grant",
    "credits_release",
    "credits_reserve",
]
