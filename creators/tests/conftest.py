import pytest


@pytest.fixture(autouse=True)
def _creators_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CREDITS_SIGNUP_GRANT = 100
    settings.CREATORS_MIN_ACCOUNT_AGE_DAYS = 7
    settings.CREATORS_SPIKE_FACTOR = 10.0
    # High enough that the tests' handfuls of likes never look like a spike, unless a test says so.
    settings.CREATORS_SPIKE_MIN_GAIN = {"views": 10_000, "likes": 1_000, "remixes": 1_000, "share_clicks": 1_000}
    settings.CREATORS_MIN_PAYOUT = 1000


@pytest.fixture
def sent_tasks(monkeypatch):
    """Task messages the code sends, recorded as (name, args): the creators tests compare
    whole lists of them, where the options would only add noise."""
    from config.celery import app

    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args or []))))
    return sent


@pytest.fixture
def run_tasks(sent_tasks):
    """Run the recorded task messages of some names (as a worker would), oldest first, and
    forget them. Returns what each returned."""
    import accounts.tasks  # noqa: F401 - registers the tasks
    import creators.tasks  # noqa: F401
    from config.celery import app

    def run(*names: str) -> list:
        todo = [(name, args) for name, args in sent_tasks if not names or name in names]
        sent_tasks[:] = [item for item in sent_tasks if item not in todo]
        return [app.tasks[name].run(*args) for name, args in todo]

    return run


@pytest.fixture
def committed(django_capture_on_commit_callbacks, sent_tasks):
    """Run a call and then its on-commit callbacks (events, task messages), as a commit would."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


@pytest.fixture
def aged():
    """aged(n) makes n accounts old enough for their engagement to count."""
    from creators.tests.factories import CreatorFactory

    return lambda n: [CreatorFactory() for _ in range(n)]
