"""Campaign lifecycle (staff), enrolment and submissions (creators), and the review queue."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from rest_framework import status

from accounts.models import User
from config.errors import ApplicationError, Conflict, Forbidden, NotFound
from config.tasks import task_send_on_commit
from feed.models import Post, PostStatus, Visibility
from feed.renditions import card_renditions
from feed.selectors import post_hidden_by_reports_only, visible_posts

from .. import selectors
from ..models import Campaign, Enrolment, Submission
from .notify import NOTIFY_CLOSED_TASK, event_on_commit, submission_data, submission_notify
from .rewards import submission_evaluate

logger = logging.getLogger(__name__)


class CampaignNotActive(Conflict):
    code = "campaign_not_active"


class NotEligible(Forbidden):
    """Enrolment refused; `code` says why (not_a_creator, not_in_market, tier_too_low, ...)."""


class SubmissionRefused(ApplicationError):
    """The post does not meet the campaign's rules; `code` says which."""


_ELIGIBILITY_MESSAGES = {
    "not_a_creator": gettext_lazy("Join the creator programme first."),
    "not_in_market": gettext_lazy("This campaign is not running in your country."),
    "language_not_targeted": gettext_lazy("This campaign is for creators in other languages."),
    "tier_too_low": gettext_lazy("This campaign is for creators of a higher tier."),
    "not_enough_followers": gettext_lazy("This campaign needs more followers."),
    "cash_payouts_not_chosen": gettext_lazy("This campaign pays cash: choose cash payouts in your creator profile first."),
}


def eligibility_message(code: str) -> str:
    return str(_ELIGIBILITY_MESSAGES[code])


# --- staff: lifecycle ----------------------------------------------------------------------------


def _locked_campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(_("No such campaign."), code="campaign_not_found")
    return campaign


def campaign_launch_problems(campaign: Campaign) -> list[str]:
    problems = []
    tasks = list(campaign.tasks.all())
    if not tasks:
        problems.append("Add at least one task.")
    if not campaign.texts.filter(language__iexact=campaign.default_language).exists():
        problems.append(f"Add a title and brief in the default language ({campaign.default_language}).")
    if campaign.budget_total <= 0:
        problems.append("Set a budget.")
    if any(task.reward > campaign.budget_total for task in tasks):
        problems.append("A task's reward is larger than the whole budget.")
    if campaign.per_creator_cap is not None and tasks and campaign.per_creator_cap < min(t.reward for t in tasks):
        problems.append("The per-creator cap is smaller than every reward.")
    if campaign.hashtag and campaign.hashtag != campaign.hashtag.lower().lstrip("#"):
        problems.append("Write the hashtag in lower case, without '#'.")
    return problems


@transaction.atomic
def campaign_activate(*, staff: User, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Launch a draft (its whole budget becomes spendable) or resume a paused campaign."""
    now = now or timezone.now()
    campaign = _locked_campaign(campaign_id)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
        raise Conflict(_("This campaign cannot be activated (status: %(status)s).") % {"status": campaign.status},
                       code="campaign_not_activatable")
    if campaign.ends_at <= now:
        raise Conflict(_("This campaign has already ended."), code="campaign_ended")
    problems = campaign_launch_problems(campaign)
    if problems:
        raise ApplicationError(" ".join(problems), code="campaign_incomplete")
    if campaign.status == Campaign.Status.DRAFT:
        campaign.budget_remaining = campaign.budget_total
        campaign.activated_at = now
    campaign.status = Campaign.Status.ACTIVE
    campaign.save()
    logger.info("creators.campaign_activated", extra={"campaign_id": campaign.pk, "staff_id": staff.pk})
    return campaign


@transaction.atomic
def campaign_pause(*, staff: User, campaign_id: int) -> Campaign:
    campaign = _locked_campaign(campaign_id)
    if campaign.status != Campaign.Status.ACTIVE:
        raise Conflict(_("Only an active campaign can be paused."), code="campaign_not_active")
    campaign.status = Campaign.Status.PAUSED
    campaign.save(update_fields=["status", "updated_at"])
    logger.info("creators.campaign_paused", extra={"campaign_id": campaign.pk, "staff_id": staff.pk})
    return campaign


@transaction.atomic
def campaign_close(*, staff: User, campaign_id: int) -> Campaign:
    campaign = _locked_campaign(campaign_id)
    if campaign.status not in (Campaign.Status.ACTIVE, Campaign.Status.PAUSED):
        raise Conflict(_("This campaign cannot be closed (status: %(status)s).") % {"status": campaign.status}, code="campaign_not_closable")
    campaign.status = Campaign.Status.CLOSED
    campaign.closed_reason = Campaign.CloseReason.STAFF
    campaign.closed_at = timezone.now()
    campaign.save(update_fields=["status", "closed_reason", "closed_at", "updated_at"])
    task_send_on_commit(NOTIFY_CLOSED_TASK, campaign.pk)
    logger.info("creators.campaign_closed", extra={"campaign_id": campaign.pk, "staff_id": staff.pk})
    return campaign


@transaction.atomic
def campaign_budget_add(*, staff: User, campaign_id: int, amount: int, now: datetime | None = None) -> Campaign:
    """Top up a launched campaign. One closed because its budget ran out opens again if it has
    not ended (creators who were told it closed keep their enrolment)."""
    if amount <= 0:
        raise ApplicationError(_("Add a positive amount."), code="amount_invalid")
    now = now or timezone.now()
    campaign = _locked_campaign(campaign_id)
    if campaign.status == Campaign.Status.DRAFT:
        raise Conflict(_("Edit a draft's budget directly."), code="campaign_is_draft")
    reopen = (campaign.status == Campaign.Status.CLOSED and campaign.closed_reason == Campaign.CloseReason.BUDGET
              and campaign.ends_at > now)
    if campaign.status == Campaign.Status.CLOSED and not reopen:
        raise Conflict(_("This campaign is closed."), code="campaign_closed")
    campaign.budget_total += amount
    campaign.budget_remaining += amount
    if reopen:
        campaign.status = Campaign.Status.ACTIVE
        campaign.closed_reason = ""
        campaign.closed_at = None
        campaign.enrolments.update(closed_notified_at=None)
    campaign.save()
    logger.info("creators.campaign_budget_added", extra={"campaign_id": campaign.pk, "staff_id": staff.pk,
                                                         "amount": amount, "reopened": reopen})
    return campaign


# --- creators: enrolment ------------------------------------------------------------------------


def _live_campaign(campaign_id: int, now: datetime) -> Campaign:
    campaign = selectors.campaign_visible(campaign_id=campaign_id)
    if not (campaign.status == Campaign.Status.ACTIVE and campaign.starts_at <= now < campaign.ends_at):
        raise CampaignNotActive("This campaign is not running.")
    return campaign


@transaction.atomic
def campaign_enrol(*, user: User, campaign_id: int, now: datetime | None = None) -> tuple[Enrolment, bool]:
    """Join a running campaign the creator is eligible for. Enrolling again is a no-op; after
    leaving, it starts over (posts must then be made after the new enrolment)."""
    now = now or timezone.now()
    campaign = _live_campaign(campaign_id, now)
    problem = selectors.eligibility_problem(campaign=campaign, user=user,
                                            profile=selectors.creator_profile(user=user))
    if problem is not None:
        raise NotEligible(eligibility_message(problem), code=problem)
    try:
        with transaction.atomic():
            enrolment, created = Enrolment.objects.get_or_create(campaign=campaign, user=user,
                                                                 defaults={"enrolled_at": now})
    except IntegrityError:  # enrolled twice at once
        enrolment, created = Enrolment.objects.get(campaign=campaign, user=user), False
    if not created:
        enrolment = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
        if enrolment.status == Enrolment.Status.LEFT:
            enrolment.status = Enrolment.Status.ENROLLED
            enrolment.enrolled_at = now
            enrolment.left_at = None
            enrolment.save(update_fields=["status", "enrolled_at", "left_at"])
            created = True
    if created:
        logger.info("creators.enrolled", extra={"campaign_id": campaign.pk, "user_id": user.pk})
    return enrolment, created


@transaction.atomic
def campaign_leave(*, user: User, campaign_id: int) -> Enrolment:
    """Stop taking part: no more evaluation or rewards here; rewards already earned stay."""
    enrolment = Enrolment.objects.select_for_update().filter(campaign_id=campaign_id, user=user).first()
    if enrolment is None:
        raise Conflict(_("You are not enrolled in this campaign."), code="not_enrolled")
    if enrolment.status == Enrolment.Status.ENROLLED:
        enrolment.status = Enrolment.Status.LEFT
        enrolment.left_at = timezone.now()
        enrolment.save(update_fields=["status", "left_at"])
        logger.info("creators.left", extra={"campaign_id": campaign_id, "user_id": user.pk})
    return enrolment


# --- creators: submissions ----------------------------------------------------------------------


def _submittable_post(*, user: User, post_id: int) -> Post:
    post = Post.objects.filter(pk=post_id).exclude(status=PostStatus.DELETED).first()
    if post is None:
        raise NotFound(_("No such post."), code="post_not_found")
    if post.author_id != user.pk:
        if not visible_posts(user).filter(pk=post.pk).exists():
            # Someone else's post the user cannot see: do not confirm it exists.
            raise NotFound(_("No such post."), code="post_not_found")
        raise SubmissionRefused(_("Only your own posts can be submitted."), code="post_not_own",
                                status_code=status.HTTP_403_FORBIDDEN)
    # Hidden by reports alone is no verdict: only a staff decision keeps a post out. Its
    # submission stands, and counting waits (submission_evaluate) until staff restore it.
    if post.status != PostStatus.ACTIVE and not post_hidden_by_reports_only(post=post):
        raise SubmissionRefused(_("This post is not live."), code="post_not_active")
    if post.visibility != Visibility.PUBLIC:
        raise SubmissionRefused(_("Only public posts can be submitted."), code="post_not_public")
    return post


def _check_rules(*, campaign: Campaign, enrolment: Enrolment, post: Post) -> None:
    if post.created_at < enrolment.enrolled_at:
        raise SubmissionRefused(_("Submit a post made after you enrolled."), code="post_before_enrolment")
    if campaign.template_post_id is not None and campaign.template_post_id not in (post.parent_id, *post.lineage):
        raise SubmissionRefused(_("The post must be a remix of the campaign's template."),
                                code="post_not_remix_of_template")
    if campaign.hashtag and campaign.hashtag.lower().lstrip("#") not in post.hashtags:
        raise SubmissionRefused(_("The post must carry #%(hashtag)s.") % {"hashtag": campaign.hashtag.lstrip("#")}, code="post_missing_hashtag")
    required = campaign.min_localized_markets
    if required:
        # The languages of the video's succeeded renditions (feed shows the same ones).
        found = card_renditions([post.generation_id]).get(post.generation_id, [])
        have = len({r.language.lower() for r in found})
        if have < required:
            raise SubmissionRefused(
                ngettext("This campaign needs the video localised into at least %(required)d language; "
                         "this post has %(have)d.",
                         "This campaign needs the video localised into at least %(required)d languages; "
                         "this post has %(have)d.", required) % {"required": required, "have": have},
                code="campaign_localization_required", extra={"required": required, "have": have})


@transaction.atomic
def submission_create(*, user: User, campaign_id: int, post_id: int, now: datetime | None = None) -> Submission:
    """Submit one of the creator's own public posts, made after enrolling, that meets the
    campaign's rules. Auto review accepts it (and pays the publish task at once); manual
    review queues it for staff."""
    now = now or timezone.now()
    campaign = _live_campaign(campaign_id, now)
    enrolment = Enrolment.objects.select_for_update().filter(campaign=campaign, user=user).first()
    if enrolment is None or enrolment.status != Enrolment.Status.ENROLLED:
        raise Forbidden(_("Enrol in the campaign first."), code="not_enrolled")
    post = _submittable_post(user=user, post_id=post_id)
    _check_rules(campaign=campaign, enrolment=enrolment, post=post)
    if Submission.objects.filter(campaign=campaign, post=post).exists():
        raise Conflict(_("This post is already submitted."), code="already_submitted")
    if Submission.objects.filter(enrolment=enrolment).count() >= settings.CREATORS_MAX_SUBMISSIONS:
        raise Conflict(_("You reached the most submissions for this campaign."), code="submission_limit_reached")
    auto = campaign.review_mode == Campaign.ReviewMode.AUTO
    submission = Submission.objects.create(
        campaign=campaign, enrolment=enrolment, user=user, post=post, submitted_at=now,
        status=Submission.Status.ACCEPTED if auto else Submission.Status.PENDING_REVIEW,
    )
    logger.info("creators.submitted", extra={"submission_id": submission.pk, "campaign_id": campaign.pk,
                                             "user_id": user.pk, "post_id": post.pk})
    if auto:
        submission_evaluate(submission_id=submission.pk, now=now)
        submission.refresh_from_db()
    if submission.status != Submission.Status.FLAGGED:  # a flag sent its own event
        event_on_commit(user.pk, {"type": "creator.submission", "submission": submission_data(submission)})
    return submission


def submission_review(*, staff: User, submission_id: int, approve: bool, reason: str = "",
                      now: datetime | None = None) -> Submission:
    """Staff decide on a submission waiting for review (manual mode) or flagged for a spike.
    Approving counts what it has now as its baseline and pays what it reached."""
    now = now or timezone.now()
    reason = reason.strip()
    if not approve and not reason:
        raise ApplicationError(_("Give the creator a reason."), code="reason_required")
    with transaction.atomic():
        submission = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if submission is None:
            raise NotFound(_("No such submission."), code="submission_not_found")
        if submission.status not in (Submission.Status.PENDING_REVIEW, Submission.Status.FLAGGED):
            raise Conflict(_("This submission is not waiting for review (status: %(status)s).") % {"status": submission.status},
                           code="submission_not_in_review")
        submission.status = Submission.Status.ACCEPTED if approve else Submission.Status.REJECTED
        submission.reviewed_by = staff
        submission.reviewed_at = now
        submission.review_reason = reason[:500]
        submission.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_reason"])
        logger.info("creators.submission_reviewed", extra={"submission_id": submission.pk, "staff_id": staff.pk,
                                                           "approved": approve})
        if approve:
            submission_evaluate(submission_id=submission.pk, now=now, reviewed=True)
        event_on_commit(submission.user_id, {"type": "creator.submission", "submission": submission_data(submission)})
        submission_notify(submission)
    return submission
