import factory

from accounts.tests.factories import UserFactory
from generation.models import GenerationJob, JobKind, JobStatus


class GenerationJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationJob

    user = factory.SubFactory(UserFactory)
    kind = JobKind.TEXT_TO_VIDEO
    status = JobStatus.QUEUED
    prompt = "a paper boat sailing through a neon city"
    duration_seconds = 4
    width = 480
    height = 854
    fps = 24
    seed = 1
    backend = "preview"
    cost = 4
