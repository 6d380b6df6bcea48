import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8  # small, fast clips; the size and duration stay real
    settings.CREDITS_SIGNUP_GRANT = 100


@pytest.fixture
def sent_tasks(monkeypatch):
    """Task messages the code sends, recorded instead of published (the worker tests run real ones)."""
    from config.celery import app

    sent: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args or []), kw)))
    return sent
