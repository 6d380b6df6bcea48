"""The admin as the people who run the app use it: the branded dashboard (figures from the apps'
selectors, each a link to the filtered list), job and post pages with their video, searchable
selects, and the campaign builder's multi-selects."""

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Market
from billing.models import StripeEvent, WebhookAttempt
from config import media
from creators.models import Campaign
from creators.tests.factories import CampaignFactory
from feed.tests.factories import PostFactory, ReportFactory
from generation.models import GenerationJob, JobStatus
from generation.tests.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def _figure_link(page: str, label: str) -> tuple[str, str]:
    """(href, figure) of the dashboard's line labelled `label`."""
    match = re.search(r'<li><a href="([^"]+)">' + re.escape(label) + r'</a>\s*<a class="figure[^"]*" href="[^"]+">'
                      r'(\d+)</a></li>', page)
    assert match, f"no figure {label!r} on the dashboard"
    return html.unescape(match.group(1)), match.group(2)


def _video_src(page: str) -> tuple[str, str]:
    match = re.search(r'<video controls preload="metadata" src="([^"]+)" poster="([^"]+)"', page)
    assert match, "no <video> player on the page"
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def _signed_name(url: str) -> str | None:
    return media.media_name_from_token(urlsplit(url).path.rstrip("/").rsplit("/", 1)[1])


def test_the_dashboard_is_branded_and_counts_what_needs_attention_each_figure_a_filtered_list(admin_client,
                                                                                                settings):
    now = timezone.now()
    stuck = GenerationJobFactory(status=JobStatus.RUNNING, heartbeat_at=now - timedelta(hours=1))
    GenerationJobFactory(status=JobStatus.RUNNING, heartbeat_at=now)  # alive
    GenerationJobFactory(status=JobStatus.QUEUED, enqueued_at=now)  # just queued
    GenerationJobFactory(status=JobStatus.FAILED)
    old = GenerationJobFactory(status=JobStatus.FAILED)
    GenerationJob.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    reported = PostFactory()
    for _ in range(settings.FEED_REPORT_REVIEW_THRESHOLD):
        ReportFactory(post=reported)
    PostFactory()
    near = CampaignFactory(budget_total=1000, budget_remaining=50)
    CampaignFactory(budget_total=1000, budget_remaining=900)
    StripeEvent.objects.create(event_id="evt_1", type="invoice.paid", payload={}, status=StripeEvent.Status.FAILED)
    StripeEvent.objects.create(event_id="evt_2", type="invoice.paid", payload={}, status=StripeEvent.Status.PROCESSED)
    WebhookAttempt.objects.create(outcome=WebhookAttempt.Outcome.FAILED, http_status=500, body_sha256="0" * 64,
                                  body_bytes=2)

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "<title>Dashboard | Clipsocial admin</title>" in page
    assert 'id="site-name"><a href="/admin/">Clipsocial admin</a>' in page
    assert 'id="dashboard"' in page and 'id="content-main"' in page  # the figures, then the app list
    for label, value, changelist, expected in [
        ("Stuck", "1", "admin:generation_generationjob_changelist", [str(stuck.pk)[:8]]),
        ("Failed (last hour)", "1", "admin:generation_generationjob_changelist", None),
        ("Running (last hour)", "2", "admin:generation_generationjob_changelist", None),
        ("Posts waiting for review", "1", "admin:feed_post_changelist", [f"/admin/feed/post/{reported.pk}/change/"]),
        ("Campaigns near budget", "1", "admin:creators_campaign_changelist", [near.name]),
        ("Stripe events failed", "1", "admin:billing_stripeevent_changelist", ["evt_1"]),
        ("Webhook requests failing (last day)", "1", "admin:billing_webhookattempt_changelist", None),
    ]:
        href, figure = _figure_link(page, label)
        assert figure == value, label
        assert href.startswith(reverse(changelist) + "?"), label
        listing = admin_client.get(href)
        assert listing.status_code == 200, label
        assert listing.context["cl"].result_count == int(value), label  # the list shows the rows counted
        for text in expected or []:
            assert text in listing.content.decode(), label
    assert "evt_2" not in admin_client.get(_figure_link(page, "Stripe events failed")[0]).content.decode()
    failed_href = _figure_link(page, "Failed (last hour)")[0]
    assert parse_qs(urlsplit(failed_href).query)["status__exact"] == ["failed"]


def test_the_jobs_list_shows_a_short_id_the_prompt_and_the_handle(admin_client):
    job = GenerationJobFactory(prompt="a paper boat sailing through a neon city at night " * 3)

    page = admin_client.get(reverse("admin:generation_generationjob_changelist")).content.decode()

    change = reverse("admin:generation_generationjob_change", args=[job.pk])
    assert f'<th class="field-short_id"><a href="{change}">{str(job.pk)[:8]}</a></th>' in page
    assert f">{job.prompt[:59]}…</td>" in page  # truncated to 60 characters
    assert f'<td class="field-user_handle">@{job.user.handle}</td>' in page


def test_a_job_page_plays_the_video_through_signed_urls_and_has_no_save_button(admin_client):
    post = PostFactory()
    job = post.generation

    page = admin_client.get(reverse("admin:generation_generationjob_change", args=[job.pk])).content.decode()

    video, poster = _video_src(page)
    assert (_signed_name(video), _signed_name(poster)) == (job.video.name, job.poster.name)
    assert "/media/generation/" not in page  # never the unsigned path
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    before = GenerationJob.objects.values().get(pk=job.pk)
    assert admin_client.post(reverse("admin:generation_generationjob_change", args=[job.pk]),
                             {"prompt": "changed"}).status_code == 403
    assert GenerationJob.objects.values().get(pk=job.pk) == before


def test_a_post_page_plays_its_video_has_the_author_as_a_searchable_select_and_hashtags_as_text(admin_client):
    post = PostFactory(caption="boats #PaperBoat #neon", hashtags=["paperboat", "neon"])

    page = admin_client.get(reverse("admin:feed_post_change", args=[post.pk])).content.decode()

    video, poster = _video_src(page)
    assert (_signed_name(video), _signed_name(poster)) == (post.generation.video.name, post.generation.poster.name)
    assert re.search(r'<select name="author"[^>]*class="admin-autocomplete"', page)
    assert f'<option value="{post.author.pk}" selected>{post.author}</option>' in page
    assert "#paperboat #neon" in page
    assert 'name="hashtags"' not in page
    search = admin_client.get(reverse("admin:autocomplete"), {
        "app_label": "feed", "model_name": "post", "field_name": "author", "term": post.author.handle})
    assert [r["id"] for r in search.json()["results"]] == [str(post.author.pk)]
    listing = admin_client.get(reverse("admin:feed_post_changelist")).content.decode()
    assert f"@{post.author.handle}" in listing


def test_the_campaign_builder_offers_multi_selects_and_saves_lists(admin_client):
    from creators.tests.test_admin_and_api import _builder_form

    template = PostFactory()
    mexico, _ = Market.objects.update_or_create(code="mx", defaults={"name": "Mexico", "countries": ["MX"]})
    usa, _ = Market.objects.update_or_create(code="us", defaults={"name": "United States", "countries": ["US"]})
    add = admin_client.get(reverse("admin:creators_campaign_add")).content.decode()
    assert re.search(r'<select name="markets"[^>]*multiple', add)
    assert re.search(r'<select name="languages"[^>]*multiple', add)
    assert f'<option value="{mexico.pk}">Mexico (mx)</option>' in add
    assert '<option value="es">Español (es)</option>' in add  # LANGUAGES names each in itself
    assert re.search(r'<select name="template_post"[^>]*class="admin-autocomplete"', add)

    response = admin_client.post(reverse("admin:creators_campaign_add"), _builder_form(
        markets=[mexico.pk, usa.pk], languages=["es", "pt"], template_post=template.pk))

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (sorted(m.code for m in campaign.markets.all()), campaign.languages, campaign.template_post_id) == (
        ["mx", "us"], ["es", "pt"], template.pk)
    change = admin_client.get(reverse("admin:creators_campaign_change", args=[campaign.pk])).content.decode()
    assert _signed_name(_video_src(change)[0]) == template.generation.video.name
    assert f'<option value="{mexico.pk}" selected>Mexico (mx)</option>' in change
    label = f"#{template.pk} @{template.author.handle}: a paper boat"
    assert f'<option value="{template.pk}" selected>{label}</option>' in change
    search = admin_client.get(reverse("admin:autocomplete"), {
        "app_label": "creators", "model_name": "campaign", "field_name": "template_post",
        "term": template.author.handle})
    assert search.json()["results"] == [{"id": str(template.pk), "text": label}]


def test_a_market_or_language_not_offered_is_refused_and_nothing_saved(admin_client):
    from creators.tests.test_admin_and_api import _builder_form

    for bad in ({"markets": [999999]}, {"languages": ["klingon"]}, {"markets": '["mx"]'}):
        response = admin_client.post(reverse("admin:creators_campaign_add"), _builder_form(**bad))
        assert response.status_code == 200  # the form again, with the error
        assert list(response.context["adminform"].form.errors) == list(bad)
    assert not Campaign.objects.exists()
