import django_filters

from .models import GenerationJob, JobStatus


class GenerationFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)

    class Meta:
        model = GenerationJob
        fields = ["status"]
