"""Functions that change creator-programme state. Each owns its transaction.

`profiles`: opting in and out, tiers, the Stripe Connect account.
`campaigns`: campaign lifecycle (staff), enrolment, submissions and their review.
`rewards`: milestone evaluation, reward grants within budget and cap, closing campaigns.
`payouts`: cash balances paid by Stripe Connect transfer or exported for manual payment.
`notify`: socket events and notifications (inbox and push).
"""

from .campaigns import (
    CampaignNotActive,
    NotEligible,
    SubmissionRefused,
    campaign_activate,
    campaign_budget_add,
    campaign_close,
    campaign_enrol,
    campaign_leave,
    campaign_pause,
    submission_create,
    submission_review,
)
from .payouts import (
    PayoutPending,
    payout_create,
    payout_mark_failed,
    payout_mark_paid,
    payout_send,
    payouts_export_manual,
    payouts_run_due,
)
from .profiles import (
    creator_connect_onboard,
    creator_connect_refresh,
    creator_opt_in,
    creator_opt_out,
    creator_profile_update,
    creator_tier_set,
    creator_tiers_refresh,
)
from .rewards import (
    GrantOutcome,
    campaign_evaluate,
    campaigns_close_ended,
    campaigns_evaluate,
    reward_grant,
    submission_evaluate,
)

__all__ = [
    "CampaignNotActive",
    "GrantOutcome",
    "NotEligible",
    "PayoutPending",
    "SubmissionRefused",
    "campaign_activate",
    "campaign_budget_add",
    "campaign_close",
    "campaign_enrol",
    "campaign_evaluate",
    "campaign_leave",
    "campaign_pause",
    "campaigns_close_ended",
    "campaigns_evaluate",
    "creator_connect_onboard",
    "creator_connect_refresh",
    "creator_opt_in",
    "creator_opt_out",
    "creator_profile_update",
    "creator_tier_set",
    "creator_tiers_refresh",
    "payout_create",
    "payout_mark_failed",
    "payout_mark_paid",
    "payout_send",
    "payouts_export_manual",
    "payouts_run_due",
    "reward_grant",
    "submission_create",
    "submission_evaluate",
    "submission_review",
]
