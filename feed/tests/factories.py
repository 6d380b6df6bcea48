from datetime import timedelta

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from feed.models import Comment, Post, Report
from generation.models import JobStatus
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
