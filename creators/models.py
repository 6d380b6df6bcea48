"""The creator programme: profiles, campaigns with tasks declared as data, enrolments,
submissions, progress, rewards and payouts.

Money-like numbers are integers: credits, or the minor unit (cents) of the campaign's
currency. A campaign's `budget_remaining` only ever moves through one conditional
UPDATE (creators.services.rewards), which is what keeps it from going below zero when
many rewards are granted at the same moment; the check constraint backs that up.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Tier(models.TextChoices):
    STARTER = "starter", "Starter"
    RISING = "rising", "Rising"
    PRO = "pro", "Pro"
    ELITE = "elite", "Elite"


TIER_RANK = {tier: rank for rank, tier in enumerate(Tier.values)}


class CreatorProfile(models.Model):
    """A user who opted in to the creator programme. Opting out keeps the row (rewards and
    payouts point at the user) with `active` off."""

    class TierSource(models.TextChoices):
        RULES = "rules", "Rules (followers)"
        STAFF = "staff", "Set by staff"

    class PayoutMethod(models.TextChoices):
        CREDITS = "credits", "Credits"
        CASH = "cash", "Cash (Stripe Connect, or manual)"

    class ConnectStatus(models.TextChoices):
        NONE = "none", "Not started"
        PENDING = "pending", "Onboarding not finished"
        RESTRICTED = "restricted", "Restricted (Stripe needs more information)"
        ENABLED = "enabled", "Enabled (transfers allowed)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="creator_profile")
    active = models.BooleanField(default=True)
    # With source "rules" the tier follows the follower count (CREATORS_TIER_FOLLOWERS);
    # a tier set by staff stays until staff hand it back to the rules.
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STARTER)
    tier_source = models.CharField(max_length=5, choices=TierSource.choices, default=TierSource.RULES)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2: the creator's market.")
    languages = models.JSONField(default=list, blank=True, help_text='Base language codes, e.g. ["es", "en"].')
    tiktok_handle = models.CharField(max_length=40, blank=True)
    instagram_handle = models.CharField(max_length=40, blank=True)
    youtube_handle = models.CharField(max_length=40, blank=True)
    payout_method = models.CharField(max_length=7, choices=PayoutMethod.choices, default=PayoutMethod.CREDITS)
    stripe_account_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    connect_status = models.CharField(max_length=10, choices=ConnectStatus.choices, default=ConnectStatus.NONE)
    connect_checked_at = models.DateTimeField(null=True, blank=True)
    opted_in_at = models.DateTimeField(default=timezone.now)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"creator {self.user_id} ({self.tier})"


class Campaign(models.Model):
    """Made by staff in the admin. Texts per language and tasks are inlines."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    class CloseReason(models.TextChoices):
        BUDGET = "budget_exhausted", "Budget exhausted"
        ENDED = "ended", "End date reached"
        STAFF = "staff", "Closed by staff"

    class BudgetKind(models.TextChoices):
        CREDITS = "credits", "Credits"
        CASH = "cash", "Cash"

    class ReviewMode(models.TextChoices):
        AUTO = "auto", "Automatic (rule checks only)"
        MANUAL = "manual", "Manual (staff approve each submission)"

    name = models.CharField(max_length=120, help_text="Internal name; creators see the per-language titles.")
    default_language = models.CharField(max_length=16, default="en",
                                        help_text="Shown when the creator's language has no text.")
    cover = models.ImageField(upload_to="campaigns/covers/%Y/%m/", blank=True)
    template_post = models.ForeignKey("feed.Post", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", help_text="Submissions must remix this post.")
    hashtag = models.CharField(max_length=100, blank=True, help_text="Without '#'; submissions must carry it.")
    # Targeting: the markets (accounts.Market) it runs in; none selected: every market.
    markets = models.ManyToManyField("accounts.Market", blank=True, related_name="+",
                                     help_text="None selected: every market.")
    # Before markets: ISO-2 codes. Still honoured on campaigns that have no markets.
    countries = models.JSONField(default=list, blank=True, help_text='ISO-2 codes, e.g. ["US", "MX"]; empty: all.')
    languages = models.JSONField(default=list, blank=True, help_text='Base codes, e.g. ["es"]; empty: all.')
    min_tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STARTER)
    min_followers = models.PositiveIntegerField(default=0)
    # Campaigns that pay for reach in many markets: the submitted post's video must have been
    # localised (generation.Rendition, succeeded) into at least this many languages.
    min_localized_markets = models.PositiveSmallIntegerField(
        default=0, help_text="Submissions need succeeded renditions (subtitles or dubbing) in at least this many "
                             "languages; 0: none needed.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    budget_kind = models.CharField(max_length=7, choices=BudgetKind.choices, default=BudgetKind.CREDITS)
    currency = models.CharField(max_length=3, blank=True, help_text="Cash budgets only: lowercase ISO 4217.")
    budget_total = models.PositiveBigIntegerField(help_text="Credits, or the currency's minor unit (cents).")
    budget_remaining = models.BigIntegerField(default=0)
    per_creator_cap = models.PositiveBigIntegerField(null=True, blank=True,
                                                     help_text="Most one creator can earn here; empty: no cap.")
    review_mode = models.CharField(max_length=6, choices=ReviewMode.choices, default=ReviewMode.AUTO)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.DRAFT)
    closed_reason = models.CharField(max_length=16, choices=CloseReason.choices, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(budget_remaining__gte=0),
                                   name="creators_campaign_budget_gte_0"),
            models.CheckConstraint(condition=models.Q(budget_remaining__lte=models.F("budget_total")),
                                   name="creators_campaign_budget_lte_total"),
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="creators_campaign_ends_after_start"),
            models.CheckConstraint(
                condition=(models.Q(budget_kind="credits", currency="")
                           | (models.Q(budget_kind="cash") & ~models.Q(currency=""))),
                name="creators_campaign_currency_iff_cash",
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="creators_campaign_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_cash(self) -> bool:
        return self.budget_kind == self.BudgetKind.CASH


class CampaignText(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=16, help_text='"es", or a regional variant like "pt-br".')
    title = models.CharField(max_length=120)
    brief = models.TextField(max_length=4000)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "language"], name="creators_text_one_per_lang")]

    def __str__(self) -> str:
        return f"{self.language}: {self.title}"


class CampaignTask(models.Model):
    """One rule of a campaign, as data, with its reward.

    publish       an accepted submission (a public post of the creator, made after enrolling,
                  remixing the template and carrying the hashtag when the campaign has them)
    views/likes/remixes/share_clicks
                  a submitted post reaches `threshold` of that, counting only eligible
                  engagement (creators.selectors.eligible_count), within `window_days`
                  of being posted (and before the campaign ends)
    Each task pays a creator at most once, whichever of their submissions gets there first.
    """

    class Kind(models.TextChoices):
        PUBLISH = "publish", "Publish a qualifying post"
        VIEWS = "views", "Views"
        LIKES = "likes", "Likes"
        REMIXES = "remixes", "Remixes"
        SHARE_CLICKS = "share_clicks", "Share link clicks (distinct visitors)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    threshold = models.PositiveIntegerField(default=0, help_text="N (not for publish).")
    window_days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="D (not for publish).")
    reward = models.PositiveBigIntegerField(help_text="In the campaign's budget unit.")

    class Meta:
        ordering = ("position", "id")
        constraints = [
            models.CheckConstraint(condition=models.Q(reward__gt=0), name="creators_task_reward_gt_0"),
            models.CheckConstraint(
                condition=(models.Q(kind="publish", threshold=0, window_days__isnull=True)
                           | (~models.Q(kind="publish") & models.Q(threshold__gt=0, window_days__gt=0))),
                name="creators_task_rule_shape",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.PUBLISH:
            return f"publish → {self.reward}"
        return f"{self.threshold} {self.kind} in {self.window_days} d → {self.reward}"


class Enrolment(models.Model):
    """A creator in a campaign. The row is the per-creator lock of the campaign: every reward
    grant locks it first, so the per-creator cap and 'each task once' hold under races."""

    class Status(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled"
        LEFT = "left", "Left"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrolments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ENROLLED)
    # Posts made before this moment cannot be submitted; re-enrolling moves it.
    enrolled_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    # Running totals of this creator's rewards here, kept under the row lock (cap, leaderboard).
    earned = models.BigIntegerField(default=0)
    rewards_count = models.PositiveIntegerField(default=0)
    last_reward_at = models.DateTimeField(null=True, blank=True)
    # Set when the "campaign closed" notice went out to this creator, so it goes once.
    closed_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="creators_enrolment_unique")]
        indexes = [models.Index(fields=["campaign", "-earned", "last_reward_at"], name="creators_enrolment_board")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.campaign_id} ({self.status})"


class Submission(models.Model):
    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review", "Waiting for review"
        ACCEPTED = "accepted", "Accepted"
        FLAGGED = "flagged", "Flagged (engagement spike), waiting for review"
        REJECTED = "rejected", "Rejected"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="submissions")
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    # SET_NULL: an author may delete the post; the submission (and its rewards) stay as history.
    post = models.ForeignKey("feed.Post", null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=14, choices=Status.choices)
    submitted_at = models.DateTimeField(default=timezone.now)
    flag_reason = models.CharField(max_length=300, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=500, blank=True)
    # The eligible counts at the last evaluation: the spike detector compares against them.
    last_counts = models.JSONField(default=dict, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "post"], name="creators_submission_post_once")]
        indexes = [
            models.Index(fields=["campaign", "status"], name="creators_submission_queue"),
            models.Index(fields=["user", "-submitted_at"], name="creators_submission_mine"),
        ]

    def __str__(self) -> str:
        return f"submission {self.pk}: post {self.post_id} ({self.status})"


class TaskProgress(models.Model):
    """How far one submission got on one engagement task (eligible count), as of `updated_at`."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="progress")
    task = models.ForeignKey(CampaignTask, on_delete=models.CASCADE, related_name="+")
    value = models.BigIntegerField(default=0)
    reached_at = models.DateTimeField(null=True, blank=True)
    # The task's window closed below the threshold: no more counting.
    expired = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["submission", "task"], name="creators_progress_unique")]


class Payout(models.Model):
    """Cash rewards leaving the balance: a Stripe Connect transfer, or a row of a CSV that staff
    pay by hand. The rewards it pays point at it; a failed payout lets go of them again.
    Its id is the Stripe idempotency key (`creator-payout-<id>`)."""

    class Method(models.TextChoices):
        STRIPE = "stripe", "Stripe Connect transfer"
        MANUAL = "manual", "Manual (CSV export)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (transfer not confirmed yet)"
        EXPORTED = "exported", "Exported for manual payment"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed (back in the balance)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_payouts")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    method = models.CharField(max_length=6, choices=Method.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    stripe_account_id = models.CharField(max_length=100, blank=True)
    stripe_transfer_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="creators_payout_amount_gt_0")]
        indexes = [models.Index(fields=["user", "-created_at"], name="creators_payout_mine"),
                   models.Index(fields=["status", "method"], name="creators_payout_queue")]

    def __str__(self) -> str:
        return f"payout {self.pk}: {self.amount} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"creator-payout-{self.pk}"


class Reward(models.Model):
    """One task paid to one creator, exactly once (unique task + user). Credit rewards are a
    bonus grant in the billing ledger keyed by this row; cash rewards accrue to the creator's
    payout balance (the cash rewards no payout has taken yet)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="rewards")
    task = models.ForeignKey(CampaignTask, on_delete=models.PROTECT, related_name="rewards")
    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="rewards")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_rewards")
    submission = models.ForeignKey(Submission, null=True, on_delete=models.SET_NULL, related_name="rewards")
    kind = models.CharField(max_length=7, choices=Campaign.BudgetKind.choices)
    currency = models.CharField(max_length=3, blank=True)
    amount = models.BigIntegerField()
    credit_entry = models.OneToOneField("billing.CreditEntry", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    payout = models.ForeignKey(Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="rewards")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="creators_reward_once_per_task"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="creators_reward_amount_gt_0"),
        ]
        indexes = [
            models.Index(fields=["campaign", "created_at"], name="creators_reward_burn"),
            models.Index(fields=["user", "-created_at", "-id"], name="creators_reward_mine"),
            models.Index(fields=["user", "currency"], condition=models.Q(kind="cash", payout__isnull=True),
                         name="creators_reward_unpaid_cash"),
        ]

    def __str__(self) -> str:
        return f"reward {self.pk}: {self.amount} {self.currency or 'credits'} to {self.user_id}"

    @property
    def ledger_key(self) -> str:
        return f"creator-reward:{self.pk}"
