import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8  # small, fast clips; the size and duration stay real
    settings.CREDITS_SIGNUP_GRANT = 100
