from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class JobKind(models.TextChoices):
    TEXT_TO_VIDEO = "text_to_video", "Text to video"
    IMAGE_TO_VIDEO = "image_to_video", "Image to video"
    REMIX = "remix", "Remix"
    # Subtitles and dubbing of an existing video into other languages: one Rendition per target.
    LOCALIZE = "localize", "Localize"


def _input_path(job: "GenerationJob", filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"generation/{job.user_id}/{job.id}/input.{ext}"


def _source_video_path(job: "GenerationJob", filename: str) -> str:
    return f"generation/{job.user_id}/{job.id}/source.mp4"


def _source_subtitles_path(job: "GenerationJob", filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "srt"
    return f"generation/{job.user_id}/{job.id}/source.{ext}"


class GenerationJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs")
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)

    prompt = models.TextField()
    style = models.CharField(max_length=40, blank=True)
    duration_seconds = models.PositiveSmallIntegerField()
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    fps = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    input_image = models.ImageField(upload_to=_input_path, blank=True, max_length=255)
    source_job = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="remixes")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")

    # Localize jobs: the video to localise is `source_job`'s result or an uploaded clip, optionally
    # with the source's subtitles (SRT, WebVTT or ASS); `options` holds the targets and stages asked
    # for ({"source_language", "targets": [...], "dub", "burn_in", "glossary": {...}}).
    source_video = models.FileField(upload_to=_source_video_path, blank=True, max_length=255, db_default="")
    source_subtitles = models.FileField(upload_to=_source_subtitles_path, blank=True, max_length=255,
                                        db_default="")
    options = models.JSONField(default=dict, blank=True, db_default=Value({}, output_field=models.JSONField()))

    # The likenesses in the video (at most two): given at submit, or inherited from a remix's source.
    cameos = models.ManyToManyField("accounts.Cameo", blank=True, related_name="jobs")

    backend = models.CharField(max_length=20)
    cost = models.PositiveIntegerField()
    priority = models.PositiveSmallIntegerField(default=0, help_text="Higher runs sooner (plan tier).")
    watermark = models.BooleanField(default=True)

    # Hosted providers: the provider's job id, committed the moment its create returns (before
    # any poll), so a retry or a new worker resumes it instead of paying for another render.
    remote_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_expires_at = models.DateTimeField(null=True, blank=True)
    remote_creates = models.PositiveSmallIntegerField(default=0, db_default=0,
                                                      help_text="Renders the provider was asked for.")
    # Routing: the plan at submit, the ordered backends that may serve the job, and every move
    # between them ({"from", "to", "reason", "at"}).
    # Database defaults too: the processes of the previous release insert rows without these columns
    # while a deploy rolls out.
    plan_code = models.CharField(max_length=40, blank=True, default="", db_default="")
    route = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    route_log = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    provider_model = models.CharField(max_length=60, blank=True, default="", db_default="")
    provider_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)

    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)

    progress = models.PositiveSmallIntegerField(default=0)
    # Grows with every state or progress change; clients drop events older than what they have.
    seq = models.PositiveIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)
    transient_errors = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A transient error's backoff: no worker claims the job before this.
    not_before = models.DateTimeField(null=True, blank=True)
    # The start last told to the owner (queued only): a new estimate is sent when it moves enough.
    eta_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    video = models.FileField(blank=True, max_length=255)
    poster = models.FileField(blank=True, max_length=255)
    result_duration = models.FloatField(null=True, blank=True)
    result_width = models.PositiveSmallIntegerField(null=True, blank=True)
    result_height = models.PositiveSmallIntegerField(null=True, blank=True)
    result_fps = models.FloatField(null=True, blank=True)
    result_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], condition=models.Q(idempotency_key__isnull=False),
                                    name="generation_job_idempotency_key"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="generation_job_progress_lte_100"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="generation_job_user_recent"),
            # The queue: queued jobs in dispatch order (position and ETA are counted on it).
            models.Index(fields=["-priority", "created_at"], condition=models.Q(status="queued"),
                         name="generation_job_queue"),
            models.Index(fields=["heartbeat_at"], condition=models.Q(status="running"), name="generation_job_running"),
            # A user's recent GPU time (fair share): their jobs that ran, by when they finished.
            models.Index(fields=["user", "finished_at"], condition=models.Q(started_at__isnull=False),
                         name="generation_job_gpu_use"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def credit_reference(self) -> str:
        return f"generation:{self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class RenditionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Rendition(models.Model):
    """One target language of a localize job: the video with a soft subtitle track (and a WebVTT
    file), optionally with the subtitles burned in, optionally with a dubbed audio track.

    A rendition is a derived work of `source_job` (when the source is a generation): apps above
    generation find a video's renditions through it (generation.selectors.renditions_for_sources),
    and a rendition inherits its source's consent and takedowns. Each language succeeds or fails on
    its own; `stage` is the last stage done, so a retry redoes only what failed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="renditions")
    source_job = models.ForeignKey(GenerationJob, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="source_renditions")
    language = models.CharField(max_length=16, help_text="BCP 47 tag of the target language, e.g. pt-BR")
    source_language = models.CharField(max_length=16)
    burned_in = models.BooleanField(default=False)
    dubbed = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=RenditionStatus.choices, default=RenditionStatus.PENDING)
    stage = models.CharField(max_length=20, blank=True, help_text="The last stage done (transcribe, translate, dub, mux).")
    video = models.FileField(blank=True, max_length=255)
    subtitles = models.FileField(blank=True, max_length=255, help_text="WebVTT")
    cues = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "language"], name="rendition_one_per_job_language"),
        ]
        indexes = [
            models.Index(fields=["source_job", "language", "-finished_at"], condition=models.Q(status="succeeded"),
                         name="rendition_ready_by_source"),
        ]

    def __str__(self) -> str:
        return f"{self.language} of {self.source_job_id or self.job_id} ({self.status})"

    @property
    def credit_reference(self) -> str:
        """Each language's credits are reserved and settled on their own (see services.localization)."""
        return f"rendition:{self.pk}"


class ProviderAlert(models.Model):
    """Something about a hosted provider that staff must act on (quota spent, credentials
    refused): shown on the admin dashboard until resolved. One open alert per provider and code."""

    provider = models.CharField(max_length=20)
    code = models.CharField(max_length=60)
    message = models.CharField(max_length=500, blank=True)
    job = models.ForeignKey(GenerationJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    occurrences = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "code"], condition=models.Q(resolved_at__isnull=True),
                                    name="provider_alert_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.code}"
class RenderTimeStat(models.Model):
    """A moving average of measured render time per backend, size and duration; workers update it
    after every render, and queue ETAs are computed from it."""

    backend = models.CharField(max_length=20)
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    duration_seconds = models.PositiveSmallIntegerField()
    average_seconds = models.FloatField()
    samples = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["backend", "width", "height", "duration_seconds"],
                                    name="render_time_stat_key"),
        ]

    def __str__(self) -> str:
        return f"{self.backend} {self.width}x{self.height} {self.duration_seconds}s: {self.average_seconds:.1f}s"


class GpuWorker(models.Model):
    """A GPU worker process that said it is alive (on every claim and while it renders). Those seen
    within GENERATION_HEARTBEAT_TIMEOUT are the workers the ETA counts."""

    name = models.CharField(max_length=200, unique=True)  # hostname:pid
    seen_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name
