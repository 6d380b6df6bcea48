from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.http import IdField
from config.media import media_url

from . import selectors
from .models import Campaign, CampaignTask, CreatorProfile, Enrolment, Payout, Reward, Submission

_HANDLE_RE = r"^@?[A-Za-z0-9_.\-]{1,30}$"


class LanguagesField(serializers.ListField):
    child = serializers.RegexField(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")

    def to_internal_value(self, data):
        codes = []
        for code in super().to_internal_value(data):
            base = selectors.base_language(code)
            if base not in codes:
                codes.append(base)
        return codes


class HandleField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(_HANDLE_RE, max_length=31, required=False, allow_blank=True, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).lstrip("@")


class CreatorProfileInputSerializer(serializers.Serializer):
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False)
    languages = LanguagesField(required=False, max_length=5, allow_empty=False)
    tiktok_handle = HandleField()
    instagram_handle = HandleField()
    youtube_handle = HandleField()
    payout_method = serializers.ChoiceField(choices=CreatorProfile.PayoutMethod.choices, required=False)

    def validate_country(self, value: str) -> str:
        return value.upper()


class CreatorProfileSerializer(serializers.ModelSerializer):
    tier = serializers.SerializerMethodField()

    class Meta:
        model = CreatorProfile
        fields = ["tier", "tier_source", "country", "languages", "tiktok_handle", "instagram_handle",
                  "youtube_handle", "payout_method", "connect_status", "opted_in_at"]
        read_only_fields = fields

    def get_tier(self, profile: CreatorProfile) -> str:
        return selectors.effective_tier(profile=profile, user=profile.user)


class ConnectLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()
    connect_status = serializers.ChoiceField(choices=CreatorProfile.ConnectStatus.choices)


class ConnectStatusSerializer(serializers.Serializer):
    connect_status = serializers.ChoiceField(choices=CreatorProfile.ConnectStatus.choices)
    checked_at = serializers.DateTimeField(allow_null=True)


# Plain strings in the schema: an enum named "kind" would collide with generation's and rename it.
_TASK_KINDS = ", ".join(CampaignTask.Kind.values)


class TaskSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text=f"One of: {_TASK_KINDS}.")
    reward = serializers.SerializerMethodField()

    class Meta:
        model = CampaignTask
        fields = ["id", "kind", "threshold", "window_days", "reward"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "properties": {"amount": {"type": "integer"},
                                                           "kind": {"type": "string"},
                                                           "currency": {"type": "string", "nullable": True}}})
    def get_reward(self, task: CampaignTask) -> dict:
        campaign = self.context["campaigns"][task.campaign_id]
        return {"amount": task.reward, "kind": campaign.budget_kind, "currency": campaign.currency or None}


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign as a creator sees it: text in their language (with fallback), the rules,
    the rewards, whether they may take part and why not, and their enrolment."""

    title = serializers.SerializerMethodField()
    brief = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField()
    cover_url = serializers.SerializerMethodField()
    budget = serializers.SerializerMethodField()
    tasks = serializers.SerializerMethodField()
    eligibility = serializers.SerializerMethodField()
    enrolment = serializers.SerializerMethodField()
    markets = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True,
                                           help_text="Codes of the markets it runs in; empty: every market.")

    class Meta:
        model = Campaign
        fields = ["id", "title", "brief", "language", "cover_url", "hashtag", "template_post_id", "markets",
                  "countries", "languages", "min_tier", "min_followers", "min_localized_markets", "starts_at",
                  "ends_at", "status", "review_mode", "per_creator_cap", "budget", "tasks", "eligibility", "enrolment"]
        read_only_fields = fields

    def _text(self, campaign: Campaign):
        cache = self.context.setdefault("_texts", {})
        if campaign.pk not in cache:
            cache[campaign.pk] = selectors.campaign_text(campaign=campaign, preferences=self.context["languages"])
        return cache[campaign.pk]

    def get_title(self, campaign: Campaign) -> str:
        text = self._text(campaign)
        return text.title if text is not None else campaign.name

    def get_brief(self, campaign: Campaign) -> str:
        text = self._text(campaign)
        return text.brief if text is not None else ""

    def get_language(self, campaign: Campaign) -> str | None:
        text = self._text(campaign)
        return text.language if text is not None else None

    def get_cover_url(self, campaign: Campaign) -> str | None:
        return media_url(campaign.cover.name) if campaign.cover else None

    @extend_schema_field({"type": "object"})
    def get_budget(self, campaign: Campaign) -> dict:
        # Creators see how much is left as a share, not the company's figures.
        left = campaign.budget_remaining / campaign.budget_total if campaign.budget_total else 0
        return {"kind": campaign.budget_kind, "currency": campaign.currency or None, "left": round(left, 3)}

    @extend_schema_field(TaskSerializer(many=True))
    def get_tasks(self, campaign: Campaign) -> list:
        context = {**self.context, "campaigns": {campaign.pk: campaign}}
        return TaskSerializer(campaign.tasks.all(), many=True, context=context).data

    @extend_schema_field({"type": "object", "properties": {"eligible": {"type": "boolean"},
                                                           "reason": {"type": "string", "nullable": True}}})
    def get_eligibility(self, campaign: Campaign) -> dict:
        problem = selectors.eligibility_problem(campaign=campaign, user=self.context["user"],
                                                profile=self.context["profile"])
        return {"eligible": problem is None, "reason": problem}

    @extend_schema_field({"type": "object", "nullable": True})
    def get_enrolment(self, campaign: Campaign) -> dict | None:
        enrolment = self.context["enrolments"].get(campaign.pk)
        if enrolment is None:
            return None
        return {"status": enrolment.status, "enrolled_at": enrolment.enrolled_at, "earned": enrolment.earned}


class EnrolmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrolment
        fields = ["campaign_id", "status", "enrolled_at", "left_at", "earned", "rewards_count"]
        read_only_fields = fields


class SubmissionCreateSerializer(serializers.Serializer):
    post_id = IdField()


class SubmissionSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = ["id", "campaign_id", "post_id", "status", "submitted_at", "review_reason", "progress"]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_progress(self, submission: Submission) -> list[dict]:
        rewarded = {reward.task_id: reward.pk for reward in submission.rewards.all()}
        rows = [{"task_id": row.task_id, "value": row.value, "reached": row.reached_at is not None,
                 "expired": row.expired, "reward_id": rewarded.get(row.task_id)}
                for row in submission.progress.all()]
        for task_id, reward_id in rewarded.items():
            if not any(row["task_id"] == task_id for row in rows):  # publish tasks have no count
                rows.append({"task_id": task_id, "value": 1, "reached": True, "expired": False,
                             "reward_id": reward_id})
        return sorted(rows, key=lambda row: row["task_id"])


class TaskStateSerializer(serializers.Serializer):
    task_id = serializers.IntegerField(source="task.pk")
    kind = serializers.CharField(source="task.kind")
    threshold = serializers.IntegerField(source="task.threshold")
    value = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["open", "in_progress", "rewarded"])
    reward_id = serializers.SerializerMethodField()

    def get_reward_id(self, row: dict) -> int | None:
        return row["reward"].pk if row["reward"] is not None else None


class RewardSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text="credits or cash.")
    campaign = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = Reward
        fields = ["id", "campaign", "task", "submission_id", "kind", "currency", "amount", "status", "created_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "object"})
    def get_campaign(self, reward: Reward) -> dict:
        text = selectors.campaign_text(campaign=reward.campaign, preferences=self.context["languages"])
        return {"id": reward.campaign_id, "title": text.title if text is not None else reward.campaign.name}

    @extend_schema_field({"type": "object"})
    def get_task(self, reward: Reward) -> dict:
        return {"id": reward.task_id, "kind": reward.task.kind, "threshold": reward.task.threshold}

    def get_status(self, reward: Reward) -> str:
        """credited (credits: in the ledger), balance (cash not yet paid out), in_payout, paid."""
        if reward.kind == Campaign.BudgetKind.CREDITS:
            return "credited"
        if reward.payout is None:
            return "balance"
        return "paid" if reward.payout.status == Payout.Status.PAID else "in_payout"


class PayoutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payout
        fields = ["id", "currency", "amount", "method", "status", "error", "created_at", "paid_at"]
        read_only_fields = fields


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user = serializers.DictField()
    earned = serializers.IntegerField()
    rewards = serializers.IntegerField()
