"""Milestone evaluation and reward grants.

Exactly once: a reward is unique per (task, creator), and every grant first locks the
creator's Enrolment row, then looks for an existing reward; a second evaluator (a repeated
beat run, a parallel worker) waits on that lock and then finds the reward.

Never overspent: the campaign's budget moves only by one conditional UPDATE
(`budget_remaining = budget_remaining - r WHERE budget_remaining >= r AND status = 'active'`).
PostgreSQL re-checks the WHERE on the newest row version after waiting for the row lock,
so of many grants at the same moment exactly those that fit get through; the CHECK
constraint (budget_remaining >= 0) backs it up. A reward is paid in full or not at all.
When what is left cannot pay the smallest task, the same transaction closes the campaign
(a conditional UPDATE on status, so only one transaction closes it) and, after commit, a
task tells the enrolled creators.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from billing.models import CreditKind
from billing.services import credits_grant
from config.tasks import task_send_on_commit
from feed.models import Post, PostStatus, Visibility

from .. import selectors
from ..models import Campaign, CampaignTask, Enrolment, Reward, Submission, TaskProgress
from .notify import NOTIFY_CLOSED_TASK, event_on_commit, reward_data, reward_notify, submission_data

logger = logging.getLogger(__name__)


class GrantOutcome(enum.Enum):
    GRANTED = "granted"
    ALREADY = "already_granted"
    NOT_ELIGIBLE = "not_eligible"  # left the campaign, or the submission is not accepted
    CAP_REACHED = "cap_reached"
    NO_BUDGET = "no_budget"  # not enough left, or the campaign is not active


@dataclass(frozen=True)
class GrantResult:
    outcome: GrantOutcome
    reward: Reward | None = None


def campaign_close_if_exhausted(*, campaign_id: int, now: datetime | None = None) -> bool:
    """Close the campaign when what is left cannot pay its smallest task. Call inside the
    transaction that moved the budget."""
    smallest = CampaignTask.objects.filter(campaign_id=campaign_id).aggregate(m=Min("reward"))["m"] or 1
    now = now or timezone.now()
    closed = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE,
                                     budget_remaining__lt=smallest).update(
        status=Campaign.Status.CLOSED, closed_reason=Campaign.CloseReason.BUDGET, closed_at=now, updated_at=now)
    if closed:
        logger.info("creators.campaign_budget_exhausted", extra={"campaign_id": campaign_id})
        task_send_on_commit(NOTIFY_CLOSED_TASK, campaign_id)
    return bool(closed)


@transaction.atomic
def reward_grant(*, submission_id: int, task_id: int, now: datetime | None = None) -> GrantResult:
    """Pay one task to the creator of the submission, at most once, within budget and cap."""
    now = now or timezone.now()
    submission = Submission.objects.select_related("campaign").get(pk=submission_id)
    enrolment = Enrolment.objects.select_for_update().get(pk=submission.enrolment_id)
    task = CampaignTask.objects.get(pk=task_id, campaign_id=submission.campaign_id)
    existing = Reward.objects.filter(task=task, user_id=submission.user_id).first()
    if existing is not None:
        return GrantResult(GrantOutcome.ALREADY, existing)
    if enrolment.status != Enrolment.Status.ENROLLED or submission.status != Submission.Status.ACCEPTED:
        return GrantResult(GrantOutcome.NOT_ELIGIBLE)
    campaign = submission.campaign
    if campaign.per_creator_cap is not None and enrolment.earned + task.reward > campaign.per_creator_cap:
        logger.info("creators.reward_over_cap", extra={"campaign_id": campaign.pk, "task_id": task.pk,
                                                       "user_id": submission.user_id})
        return GrantResult(GrantOutcome.CAP_REACHED)

    took = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.ACTIVE,
                                   budget_remaining__gte=task.reward).update(
        budget_remaining=F("budget_remaining") - task.reward, updated_at=now)
    if not took:
        campaign_close_if_exhausted(campaign_id=campaign.pk, now=now)
        return GrantResult(GrantOutcome.NO_BUDGET)

    reward = Reward.objects.create(
        campaign=campaign, task=task, enrolment=enrolment, user_id=submission.user_id, submission=submission,
        kind=campaign.budget_kind, currency=campaign.currency, amount=task.reward, created_at=now,
    )
    Enrolment.objects.filter(pk=enrolment.pk).update(earned=F("earned") + task.reward,
                                                     rewards_count=F("rewards_count") + 1, last_reward_at=now)
    if campaign.budget_kind == Campaign.BudgetKind.CREDITS:
        # Bonus credits never expire; the reward row is the idempotency key, so a replayed
        # grant can never credit twice even outside this lock.
        reward.credit_entry = credits_grant(
            user_id=submission.user_id, amount=task.reward, key=reward.ledger_key, kind=CreditKind.BONUS,
            reference=reward.ledger_key, reason=f"Creator reward: {campaign.name} ({task.get_kind_display()})")
        reward.save(update_fields=["credit_entry"])
    campaign_close_if_exhausted(campaign_id=campaign.pk, now=now)
    logger.info("creators.reward_granted", extra={"reward_id": reward.pk, "campaign_id": campaign.pk,
                                                  "task_id": task.pk, "user_id": submission.user_id,
                                                  "amount": task.reward, "kind": campaign.budget_kind})
    event_on_commit(submission.user_id, {"type": "creator.reward", "reward": reward_data(reward)})
    reward_notify(reward)
    return GrantResult(GrantOutcome.GRANTED, reward)


def spike_reason(*, submission: Submission, post: Post, current: dict[str, int], now: datetime) -> str | None:
    """A spike: since the last evaluation a metric gained at least its minimum
    (CREATORS_SPIKE_MIN_GAIN) and more than CREATORS_SPIKE_FACTOR times what the post's
    rate before would predict. The rate before is the count at the last evaluation over the
    post's age then (at least an hour); on the first evaluation it is zero, so a post that
    arrives already past a minimum goes to review once. A review resets the baseline."""
    since = submission.last_evaluated_at or post.created_at
    hours = max((now - since).total_seconds() / 3600, 1 / 60)
    hours_before = max((since - post.created_at).total_seconds() / 3600, 1.0)
    for kind, value in sorted(current.items()):
        previous = int(submission.last_counts.get(kind, 0))
        gain = value - previous
        minimum = settings.CREATORS_SPIKE_MIN_GAIN.get(kind)
        if not minimum or gain < minimum:
            continue
        rate_before = previous / hours_before
        if gain > settings.CREATORS_SPIKE_FACTOR * rate_before * hours:
            return f"{kind} +{gain} in {round(hours * 60)} min (rate before {rate_before:.1f}/h)"
    return None


def submission_evaluate(*, submission_id: int, now: datetime | None = None, reviewed: bool = False) -> list[Reward]:
    """Count the submission's eligible engagement, record progress per task, flag a spike for
    review, and grant every task reached. `reviewed`: staff just approved it, so what it has
    now is the new baseline, not a spike. Idempotent; returns the rewards granted now."""
    now = now or timezone.now()
    with transaction.atomic():
        # The submission row serialises evaluators of the same post (spike baseline, progress).
        submission = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if submission is None or submission.status != Submission.Status.ACCEPTED:
            return []
        campaign = Campaign.objects.get(pk=submission.campaign_id)
        if campaign.status != Campaign.Status.ACTIVE or now < campaign.starts_at:
            return []
        if not Enrolment.objects.filter(pk=submission.enrolment_id, status=Enrolment.Status.ENROLLED).exists():
            return []
        post = Post.objects.filter(pk=submission.post_id).first()
        if post is None or post.status != PostStatus.ACTIVE or post.visibility != Visibility.PUBLIC:
            # Counting pauses while the post is not public. A post hidden by reports alone is
            # waiting for staff: its submission stays accepted and is counted once restored.
            return []

        done = set(Reward.objects.filter(user_id=submission.user_id, campaign=campaign)
                   .values_list("task_id", flat=True))
        pending = [task for task in campaign.tasks.all() if task.pk not in done]
        if not pending:
            return []
        progress = {row.task_id: row for row in TaskProgress.objects.filter(submission=submission)}
        kinds = {task.kind for task in pending
                 if task.kind != CampaignTask.Kind.PUBLISH and not getattr(progress.get(task.pk), "expired", False)}
        until = min(now, campaign.ends_at)
        current = {kind: selectors.eligible_count(post=post, creator_id=submission.user_id, kind=kind, until=until)
                   for kind in sorted(kinds)}

        if not reviewed:
            reason = spike_reason(submission=submission, post=post, current=current, now=now)
            if reason is not None:
                submission.status = Submission.Status.FLAGGED
                submission.flag_reason = reason[:300]
                submission.save(update_fields=["status", "flag_reason"])
                logger.warning("creators.submission_flagged", extra={"submission_id": submission.pk,
                                                                     "reason": reason})
                event_on_commit(submission.user_id, {"type": "creator.submission",
                                                     "submission": submission_data(submission)})
                return []

        reached: list[CampaignTask] = []
        changed: list[dict] = []
        for task in pending:
            if task.kind == CampaignTask.Kind.PUBLISH:
                reached.append(task)
                continue
            row = progress.get(task.pk) or TaskProgress(submission=submission, task=task)
            if row.expired:
                continue
            deadline = selectors.task_deadline(task=task, post=post, campaign=campaign)
            if now <= deadline:
                value = current[task.kind]
            elif task.kind == CampaignTask.Kind.VIEWS:
                value = row.value  # no per-view timestamps: the last count taken inside the window
            else:
                value = selectors.eligible_count(post=post, creator_id=submission.user_id, kind=task.kind,
                                                 until=deadline)
            hit = value >= task.threshold
            expired = not hit and now > deadline
            if row.pk is None or value != row.value or (hit and row.reached_at is None) or expired:
                row.value = value
                row.reached_at = row.reached_at or (now if hit else None)
                row.expired = expired
                row.updated_at = now
                row.save()
                changed.append({"task_id": task.pk, "value": value, "threshold": task.threshold,
                                "reached": hit, "expired": expired})
            if hit:
                reached.append(task)

        submission.last_counts = {**submission.last_counts, **current}
        submission.last_evaluated_at = now
        submission.save(update_fields=["last_counts", "last_evaluated_at"])
        if changed:
            event_on_commit(submission.user_id, {"type": "creator.progress", "campaign_id": campaign.pk,
                                                 "submission_id": submission.pk, "tasks": changed})
        granted = []
        for task in reached:
            result = reward_grant(submission_id=submission.pk, task_id=task.pk, now=now)
            if result.outcome == GrantOutcome.GRANTED:
                granted.append(result.reward)
        return granted


def campaign_evaluate(*, campaign_id: int, now: datetime | None = None) -> int:
    """Evaluate every accepted submission of a live campaign. Returns the rewards granted."""
    now = now or timezone.now()
    ids = list(Submission.objects.filter(campaign_id=campaign_id, status=Submission.Status.ACCEPTED,
                                         enrolment__status=Enrolment.Status.ENROLLED)
               .order_by("pk").values_list("pk", flat=True))
    granted = 0
    for submission_id in ids:
        if not Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE).exists():
            break  # closed meanwhile (budget): nothing more can be paid
        granted += len(submission_evaluate(submission_id=submission_id, now=now))
    return granted


def campaigns_close_ended(*, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    closed = []
    for campaign_id in (Campaign.objects.filter(status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED],
                                                ends_at__lte=now).values_list("pk", flat=True)):
        with transaction.atomic():
            if Campaign.objects.filter(pk=campaign_id, status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED],
                                       ends_at__lte=now).update(status=Campaign.Status.CLOSED,
                                                                closed_reason=Campaign.CloseReason.ENDED,
                                                                closed_at=now, updated_at=now):
                task_send_on_commit(NOTIFY_CLOSED_TASK, campaign_id)
                closed.append(campaign_id)
    if closed:
        logger.info("creators.campaigns_ended", extra={"campaign_ids": closed})
    return closed


def campaigns_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Close ended campaigns, then evaluate every live one (inline; the beat task fans out)."""
    now = now or timezone.now()
    closed = campaigns_close_ended(now=now)
    granted = 0
    for campaign_id in selectors.live_campaigns(now=now).order_by("pk").values_list("pk", flat=True):
        granted += campaign_evaluate(campaign_id=campaign_id, now=now)
    return {"closed": len(closed), "granted": granted}
