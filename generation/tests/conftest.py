import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8  # small, fast clips; the size and duration stay real
    settings.CREDITS_SIGNUP_GRANT = 100


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Builds each tiny pipeline family once per session (on first use); returns its folder."""
    from generation.tests.tiny_pipelines import BUILDERS

    built: dict = {}

    def get(family: str):
        if family not in built:
            folder = tmp_path_factory.mktemp(f"tiny-{family}") / "model"
            BUILDERS[family](folder)
            built[family] = folder
        return built[family]

    return get
