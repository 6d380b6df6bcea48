from datetime import timedelta

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.tests.factories import UserFactory
from feed.models import Comment, Post, Report
from generation.models import JobKind, JobStatus, Rendition, RenditionStatus
from generation.tests.factories import GenerationJobFactory


class SucceededJobFactory(GenerationJobFactory):
    """A finished generation: the names are enough for a post card (no file is read)."""

    status = JobStatus.SUCCEEDED
    progress = 100
    video = factory.Sequence(lambda n: f"generation/feed/{n}/video.mp4")
    poster = factory.Sequence(lambda n: f"generation/feed/{n}/poster.jpg")
    result_duration = 4.0
    result_width = 480
    result_height = 854
    finished_at = factory.LazyFunction(timezone.now)


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    generation = factory.SubFactory(SucceededJobFactory, user=factory.SelfAttribute("..author"))
    caption = "a paper boat"
    language = "en"
    region = "US"


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    body = "nice"


class EstablishedUserFactory(UserFactory):
    """An account a year old: its reports carry full trust (feed.trust)."""

    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=365))


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    post = factory.SubFactory(PostFactory)
    reporter = factory.SubFactory(UserFactory)
    reason = Report.Reason.SPAM


class RenditionFactory(factory.django.DjangoModelFactory):
    """A succeeded rendition of a post's video, with small real files saved through Django's
    storage under its localize job's folder (as the localisation worker stores them)."""

    class Meta:
        model = Rendition

    class Params:
        post = None

    source_job = factory.LazyAttribute(lambda o: o.post.generation if o.post is not None else None)
    job = factory.LazyAttribute(lambda o: GenerationJobFactory(
        user=o.source_job.user, kind=JobKind.LOCALIZE, status=JobStatus.SUCCEEDED, source_job=o.source_job))
    language = "es"
    source_language = "en"
    status = RenditionStatus.SUCCEEDED
    finished_at = factory.LazyFunction(timezone.now)

    @factory.lazy_attribute
    def video(self):
        return default_storage.save(f"generation/{self.job.user_id}/{self.job.pk}/{self.language}/video.mp4",
                                    ContentFile(b"\x00\x00\x00\x18ftypmp42 " + self.language.encode()))

    @factory.lazy_attribute
    def subtitles(self):
        return default_storage.save(f"generation/{self.job.user_id}/{self.job.pk}/{self.language}/subtitles.vtt",
                                    ContentFile(f"WEBVTT\n\n00:00.000 --> 00:01.000\n{self.language}\n".encode()))
