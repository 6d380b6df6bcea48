"""Functions that change billing state.

`ledger`: the credit ledger (grant, reserve, capture, release, adjust, expire, claw back).
`checkout`: the user's purchases (customer, Checkout Sessions, plan changes, portal).
`subscriptions`: state from Stripe (subscriptions, paid invoices, checkouts, refunds).
`webhooks`: Stripe webhook verification, storage, processing and replay.

The ledger functions that other apps and staff tools call are re-exported here, as
`billing.services.credits_*`.
"""

from .ledger import (
    InsufficientCredits,
    credits_adjust,
    credits_capture,
    credits_clawback,
    credits_expire_due,
    credits_grant,
    credits_release,
    credits_reserve,
)

__all__ = [
    "InsufficientCredits",
    "credits_adjust",
    "credits_capture",
    "credits_clawback",
    "credits_expire_due",
    "credits_grant",
    "credits_release",
    "credits_reserve",
]
