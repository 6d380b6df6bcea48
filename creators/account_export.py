"""Creators' sections of the account export: campaign submissions, rewards and payouts."""

from __future__ import annotations

from accounts.exports.registry import Section, account_export_section_register

from .models import Payout, Reward, Submission


def _submissions(user) -> Section:
    return Section(data=Submission.objects.filter(user_id=user.pk).order_by("submitted_at", "pk")
                   .values("id", "campaign_id", "post_id", "status", "submitted_at", "reviewed_at",
                           "review_reason").iterator(chunk_size=2000))


def _rewards(user) -> Section:
    return Section(data=Reward.objects.filter(user_id=user.pk).order_by("created_at", "pk")
                   .values("id", "campaign_id", "submission_id", "kind", "currency", "amount", "payout_id",
                           "created_at").iterator(chunk_size=2000))


def _payouts(user) -> Section:
    return Section(data=Payout.objects.filter(user_id=user.pk).order_by("created_at", "pk")
                   .values("id", "currency", "amount", "method", "status", "created_at", "paid_at")
                   .iterator(chunk_size=2000))


def account_export_sections_register() -> None:
    account_export_section_register("campaign_submissions", _submissions)
    account_export_section_register("campaign_rewards", _rewards)
    account_export_section_register("payouts", _payouts)
