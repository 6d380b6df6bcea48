import io

import pytest
from PIL import Image

from billing.models import CreditEntry
from billing.selectors import credit_balance
from generation.models import GenerationJob, JobStatus
from generation.tests.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/generations"


def body(**overrides):
    data = {"kind": "text_to_video", "prompt": "a corgi surfing at sunset", "duration_seconds": 4, "size": "480x854"}
    data.update(overrides)
    return data


def png(size=(64, 64), fmt="PNG") -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format=fmt)
    buf.seek(0)
    buf.name = f"still.{fmt.lower()}"
    return buf


def _nothing_happened(user, sent_tasks):
    assert GenerationJob.objects.count() == 0
    assert not CreditEntry.objects.filter(user=user).exclude(kind="grant").exists()
    assert [t for t in sent_tasks if t[0] == "generation.tasks.render_generation"] == []


def test_submit_reserves_credits_creates_queued_job_and_enqueues_after_commit(auth_api, sent_tasks,
                                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api.post(URL, body(seed=42, style="anime"))

    assert response.status_code == 201, response.json()
    data = response.json()
    job = GenerationJob.objects.get()
    assert data["id"] == str(job.id)
    assert (data["status"], data["progress"], data["cost"], data["seed"], data["size"]) == \
        ("queued", 0, 4, 42, "480x854")
    assert data["queue_position"] == 1
    # Seconds to its start: nothing queued ahead and nothing running, so no wait (not a constant).
    assert data["eta_seconds"] == 0
    assert credit_balance(user_id=auth_api.user.pk).available == 96
    assert credit_balance(user_id=auth_api.user.pk).reserved == 4
    assert sent_tasks == [("generation.tasks.render_generation", [str(job.id)], {"queue": "gpu", "priority": 9})]


def test_submit_enqueues_nothing_before_commit(auth_api, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        auth_api.post(URL, body())

    assert sent_tasks == []
    assert len(callbacks) >= 1


@pytest.mark.parametrize(("overrides", "status", "code"), [
    ({"kind": "cartoon"}, 400, "validation_error"),
    ({"prompt": ""}, 400, "validation_error"),
    ({"prompt": "x" * 2001}, 400, "validation_error"),
    ({"duration_seconds": 5}, 400, "validation_error"),
    ({"size": "1000x1000"}, 400, "validation_error"),
    ({"size": "1080x1920"}, 403, "plan_limit"),
    ({"kind": "image_to_video"}, 400, "image_required"),
    ({"kind": "remix"}, 400, "source_required"),
    ({"source_generation_id": "00000000-0000-0000-0000-000000000000"}, 400, "source_not_allowed"),
    ({"prompt": "a video of Taylor Swift dancing"}, 422, "prompt_rejected"),
    ({"prompt": "tutorial on BOMB-making at home"}, 422, "prompt_rejected"),
    ({"seed": -1}, 400, "validation_error"),
])
def test_bad_input_creates_nothing_and_charges_nothing(auth_api, sent_tasks, overrides, status, code):
    response = auth_api.post(URL, body(**overrides))

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    _nothing_happened(auth_api.user, sent_tasks)


def test_configured_blocked_terms_per_language(auth_api, settings, sent_tasks):
    settings.GENERATION_BLOCKED_TERMS = {"es": ["palabra prohibida"]}

    response = auth_api.post(URL, body(prompt="Una PALABRA prohibida en la playa"))

    assert response.status_code == 422
    assert response.json()["error"]["fields"]["prompt"][0]["code"] == "blocked_term"
    _nothing_happened(auth_api.user, sent_tasks)


def test_image_to_video_accepts_an_uploaded_image(auth_api, sent_tasks):
    response = auth_api.post(URL, body(kind="image_to_video", image=png()), format="multipart")

    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get()
    assert job.input_image.name.endswith("/input.png")
    assert job.input_image.storage.exists(job.input_image.name)


@pytest.mark.parametrize(("image", "code"), [
    (io.BytesIO(b"%PDF-1.4 not an image"), "image_invalid"),
    ("gif", "image_format_unsupported"),
    ("huge", "image_too_many_pixels"),
    ("heavy", "image_too_large"),
])
def test_bad_images_are_refused(auth_api, settings, sent_tasks, image, code):
    if image == "gif":
        image = png(fmt="GIF")
    elif image == "huge":
        settings.GENERATION_MAX_IMAGE_PIXELS = 100
        image = png(size=(20, 20))
    elif image == "heavy":
        settings.GENERATION_MAX_IMAGE_BYTES = 50
        image = png()
    image.name = getattr(image, "name", "file.png")

    response = auth_api.post(URL, body(kind="image_to_video", image=image), format="multipart")

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == code
    _nothing_happened(auth_api.user, sent_tasks)


def test_image_url_is_not_fetched(auth_api, sent_tasks):
    response = auth_api.post(URL, body(kind="image_to_video", image="http://127.0.0.1:9/cat.png"))

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["image"][0]["code"] == "invalid"
    _nothing_happened(auth_api.user, sent_tasks)


def test_insufficient_credits_is_402_and_creates_nothing(auth_api, settings, sent_tasks):
    settings.CREDITS_SIGNUP_GRANT = 3

    response = auth_api.post(URL, body())

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    _nothing_happened(auth_api.user, sent_tasks)
    assert credit_balance(user_id=auth_api.user.pk).available == 3


def test_idempotency_key_replay_and_conflict(auth_api, sent_tasks):
    first = auth_api.post(URL, body(), HTTP_IDEMPOTENCY_KEY="k-1")
    replay = auth_api.post(URL, body(), HTTP_IDEMPOTENCY_KEY="k-1")
    conflict = auth_api.post(URL, body(prompt="something else"), HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert GenerationJob.objects.count() == 1
    assert CreditEntry.objects.filter(kind="reserve").count() == 1


def test_same_idempotency_key_for_two_users_is_two_jobs(client_for, sent_tasks):
    from accounts.tests.factories import UserFactory

    a, b = client_for(UserFactory()), client_for(UserFactory())

    assert a.post(URL, body(), HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert b.post(URL, body(), HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert GenerationJob.objects.count() == 2


def test_remix_needs_own_succeeded_source(auth_api, sent_tasks):
    others = GenerationJobFactory(status=JobStatus.SUCCEEDED)
    mine_running = GenerationJobFactory(user=auth_api.user, status=JobStatus.RUNNING)
    mine_done = GenerationJobFactory(user=auth_api.user, status=JobStatus.SUCCEEDED)

    not_found = auth_api.post(URL, body(kind="remix", source_generation_id=str(others.id)))
    not_ready = auth_api.post(URL, body(kind="remix", source_generation_id=str(mine_running.id)))
    ok = auth_api.post(URL, body(kind="remix", source_generation_id=str(mine_done.id)))

    assert (not_found.status_code, not_found.json()["error"]["code"]) == (404, "source_not_found")
    assert (not_ready.status_code, not_ready.json()["error"]["code"]) == (409, "source_not_ready")
    assert ok.status_code == 201
    assert ok.json()["source_generation_id"] == str(mine_done.id)
    assert GenerationJob.objects.filter(source_job=mine_done).count() == 1


def test_list_is_mine_only_filtered_and_paged(auth_api):
    GenerationJobFactory.create_batch(3, user=auth_api.user)
    GenerationJobFactory(user=auth_api.user, status=JobStatus.FAILED)
    GenerationJobFactory()  # someone else's

    everything = auth_api.get(URL).json()["results"]
    failed = auth_api.get(URL, {"status": "failed"}).json()["results"]
    page = auth_api.get(URL, {"page_size": 2}).json()
    bad = auth_api.get(URL, {"status": "exploded"})

    assert len(everything) == 4
    assert [j["status"] for j in failed] == ["failed"]
    assert len(page["results"]) == 2 and page["next"]
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["status"][0]["code"] == "invalid_choice"


def test_another_users_job_is_404_everywhere(auth_api):
    job = GenerationJobFactory(status=JobStatus.FAILED)

    for response in (auth_api.get(f"{URL}/{job.id}"), auth_api.post(f"{URL}/{job.id}/cancel"),
                     auth_api.post(f"{URL}/{job.id}/retry"), auth_api.delete(f"{URL}/{job.id}")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "generation_not_found"
    assert GenerationJob.objects.count() == 1


def test_queue_position_counts_priority_then_age(auth_api):
    GenerationJobFactory(priority=0)
    mine = GenerationJobFactory(user=auth_api.user, priority=0)
    GenerationJobFactory(priority=5)  # a paid tier goes ahead
    GenerationJobFactory(priority=0)  # later: behind me

    assert auth_api.get(f"{URL}/{mine.id}").json()["queue_position"] == 3


def test_cancel_queued_job_releases_credits(auth_api, sent_tasks):
    job_id = auth_api.post(URL, body()).json()["id"]

    response = auth_api.post(f"{URL}/{job_id}/cancel")
    again = auth_api.post(f"{URL}/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_cancelable"
    assert credit_balance(user_id=auth_api.user.pk).available == 100
    assert CreditEntry.objects.filter(kind="release").count() == 1


def test_retry_of_failed_job_makes_linked_job_and_charges_again(auth_api, sent_tasks):
    failed = GenerationJobFactory(user=auth_api.user, status=JobStatus.FAILED, seed=77)
    queued = GenerationJobFactory(user=auth_api.user)

    response = auth_api.post(f"{URL}/{failed.id}/retry")
    refused = auth_api.post(f"{URL}/{queued.id}/retry")

    assert response.status_code == 201
    assert response.json()["retry_of"] == str(failed.id)
    assert response.json()["seed"] == 77
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "job_not_retryable"
    assert GenerationJob.objects.filter(retry_of=failed).count() == 1
    assert credit_balance(user_id=auth_api.user.pk).reserved == 4


def test_delete_terminal_job_removes_files_but_not_active_ones(auth_api, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    job = GenerationJobFactory(user=auth_api.user, status=JobStatus.SUCCEEDED)
    job.video.save("generation/x/video.mp4", ContentFile(b"mp4"), save=False)
    job.poster.save("generation/x/poster.jpg", ContentFile(b"jpg"), save=True)
    active = GenerationJobFactory(user=auth_api.user, status=JobStatus.RUNNING)

    refused = auth_api.delete(f"{URL}/{active.id}")
    with django_capture_on_commit_callbacks(execute=True):
        deleted = auth_api.delete(f"{URL}/{job.id}")

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "job_active")
    assert deleted.status_code == 204
    assert not GenerationJob.objects.filter(pk=job.pk).exists()
    assert not default_storage.exists(job.video.name)
    assert not default_storage.exists(job.poster.name)
    assert GenerationJob.objects.filter(pk=active.pk).exists()


def test_unauthenticated_submit_is_401(api):
    response = api.post(URL, body())

    assert response.status_code == 401
    assert GenerationJob.objects.count() == 0


class _ShortClipsOnly:
    """A backend that renders 4 s clips and maps nothing: what a real backend's `check` does."""

    name = "short_only"

    def check(self, params):
        from generation.backends import UnsupportedRequest

        if params.duration_seconds != 4:
            raise UnsupportedRequest("This model renders 4 s clips.", code="duration_not_supported",
                                     field="duration_seconds")
        return params

    def render(self, spec, workdir, progress):  # pragma: no cover - never reached: submission refuses first
        raise AssertionError("render must not run")


def test_what_the_backend_cannot_render_is_refused_at_submit_with_nothing_charged(auth_api, sent_tasks, settings,
                                                                                 monkeypatch):
    from generation import backends

    monkeypatch.setitem(backends.BACKENDS, "short_only", f"{__name__}._ShortClipsOnly")
    settings.GENERATION_BACKEND = "short_only"

    response = auth_api.post(URL, body(duration_seconds=8))

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "duration_not_supported"
    assert error["fields"]["duration_seconds"][0]["code"] == "duration_not_supported"
    _nothing_happened(auth_api.user, sent_tasks)
    assert auth_api.post(URL, body(duration_seconds=4)).status_code == 201


def test_the_users_markets_blocked_terms_are_refused(auth_api, sent_tasks):
    from accounts.models import Market

    market = Market.objects.create(code="testland", name="Testland", countries=["TL"],
                                   blocked_terms="Forbidden Festival\n\n  local slur  ")
    type(auth_api.user).objects.filter(pk=auth_api.user.pk).update(market=market)

    response = auth_api.post(URL, body(prompt="A parade at the forbidden  festival"))

    assert response.status_code == 422
    assert response.json()["error"]["fields"]["prompt"][0] == {"code": "blocked_term", "message": "forbidden festival"}
    _nothing_happened(auth_api.user, sent_tasks)
    Market.objects.filter(pk=market.pk).update(blocked_terms="")
    assert auth_api.post(URL, body(prompt="A parade at the forbidden festival")).status_code == 201
