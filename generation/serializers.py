from __future__ import annotations

from rest_framework import serializers

from .models import JobKind, JobStatus, RenditionStatus
from .services import ALLOWED_DURATIONS, ALLOWED_SIZES, PROMPT_MAX_LENGTH


class GenerationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobKind.choices)
    prompt = serializers.CharField(max_length=PROMPT_MAX_LENGTH, trim_whitespace=True)
    duration_seconds = serializers.ChoiceField(choices=ALLOWED_DURATIONS)
    size = serializers.ChoiceField(choices=ALLOWED_SIZES, help_text="WIDTHxHEIGHT, or auto: the largest portrait "
                                   "size the serving model renders that the plan allows")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1, default=None)
    style = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    # Uploaded bytes only: the server never fetches an image from a client-given URL.
    image = serializers.FileField(required=False, allow_null=True, default=None)
    source_generation_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    # At most two (the service's `too_many_cameos`); a remix without it keeps its source's cameos.
    cameo_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True, default=None,
                                      max_length=10)


class GenerationCreateJsonSerializer(GenerationCreateSerializer):
    """The JSON body of the schema's `POST /generations`: an image is sent only in multipart."""

    image = None


class GenerationErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class GenerationResultSerializer(serializers.Serializer):
    video_url = serializers.CharField()
    poster_url = serializers.CharField()
    duration_seconds = serializers.FloatField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    fps = serializers.FloatField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()


class RenditionSerializer(serializers.Serializer):
    language = serializers.CharField(help_text="BCP 47 tag, canonical: es, pt-BR, zh-Hans")
    source_language = serializers.CharField()
    status = serializers.ChoiceField(choices=RenditionStatus.choices)
    stage = serializers.CharField(help_text="The last stage done (transcribe, translate, dub, mux)")
    dubbed = serializers.BooleanField()
    burned_in = serializers.BooleanField()
    video_url = serializers.CharField(allow_null=True)
    subtitles_url = serializers.CharField(allow_null=True, help_text="WebVTT")
    cues = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)


class GenerationSerializer(serializers.Serializer):
    """Documents generation.selectors.job_public_state, which builds the payload."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=JobKind.choices)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    seq = serializers.IntegerField()
    prompt = serializers.CharField()
    style = serializers.CharField()
    duration_seconds = serializers.IntegerField()
    size = serializers.CharField()
    seed = serializers.IntegerField()
    backend = serializers.CharField()
    cost = serializers.IntegerField()
    queue_position = serializers.IntegerField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    error = GenerationErrorSerializer(allow_null=True)
    result = GenerationResultSerializer(allow_null=True)
    source_generation_id = serializers.UUIDField(allow_null=True)
    # Added by feed (feed.selectors.job_remix_source_fields): the post a remix was started from.
    source_post_id = serializers.IntegerField(allow_null=True)
    retry_of = serializers.UUIDField(allow_null=True)
    cameo_ids = serializers.ListField(child=serializers.UUIDField())
    # A localize job's target languages (empty for other kinds).
    renditions = RenditionSerializer(many=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class LocalizationCreateSerializer(serializers.Serializer):
    """`POST /localizations`: a video to localise (the caller's own generation, or an upload) and the
    languages to localise it into."""

    source_generation_id = serializers.UUIDField(required=False, allow_null=True, default=None,
                                                 help_text="One of your succeeded generations")
    # Uploaded bytes only: the server never fetches a video from a client-given URL.
    video = serializers.FileField(required=False, allow_null=True, default=None, help_text="H.264 MP4")
    subtitles = serializers.FileField(required=False, allow_null=True, default=None,
                                      help_text="SRT, WebVTT or ASS of the source speech; without it the "
                                                "speech is transcribed")
    source_language = serializers.CharField(max_length=35, required=False, default="en")
    languages = serializers.ListField(child=serializers.CharField(max_length=35), min_length=1, max_length=20,
                                      help_text="BCP 47 tags among the app's languages, e.g. es, pt-BR, zh-Hans")
    dub = serializers.BooleanField(required=False, default=False)
    burn_in = serializers.BooleanField(required=False, default=False)
    glossary = serializers.JSONField(required=False, default=dict,
                                     help_text="Source term -> the term to use in every target language")


class LocalizationCreateJsonSerializer(LocalizationCreateSerializer):
    """The JSON body: a video and subtitles are sent only in multipart."""

    video = None
    subtitles = None
