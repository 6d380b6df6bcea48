"""The Celery app.

Two queues: `default` for short work and `gpu` for renders. GPU workers run one
process per GPU with prefetch 1, so a long render never holds a second message
hostage; acks are late so a killed worker's render is redelivered, not lost.
"""

import os

from celery import Celery
from django.conf import settings
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("clipsocial")

# Beat entries: (entry name, task, the setting holding its interval in seconds).
_PERIODIC_TASKS = (
    ("feed-refresh-scores", "feed.tasks.refresh_scores", "FEED_SCORE_REFRESH_INTERVAL"),
    ("feed-flush-views", "feed.tasks.flush_views", "FEED_VIEWS_FLUSH_INTERVAL"),
    ("sweep-generations", "generation.tasks.sweep_generations", "GENERATION_SWEEP_INTERVAL"),
    ("billing-expire-credits", "billing.tasks.expire_credits", "BILLING_EXPIRE_INTERVAL"),
    ("creators-evaluate-campaigns", "creators.tasks.evaluate_campaigns", "CREATORS_EVALUATE_INTERVAL"),
    ("creators-run-payouts", "creators.tasks.run_payouts", "CREATORS_PAYOUT_INTERVAL"),
    ("accounts-prune-events", "accounts.tasks.prune_events", "EVENTS_PRUNE_INTERVAL"),
    ("accounts-purge-cameos", "accounts.tasks.purge_cameos", "CAMEO_PURGE_INTERVAL"),
    ("accounts-sweep-exports", "accounts.tasks.sweep_account_exports", "ACCOUNT_EXPORT_SWEEP_INTERVAL"),
    ("accounts-purge-deleted", "accounts.tasks.purge_deleted_accounts", "ACCOUNT_PURGE_INTERVAL"),
)


def _configure(app: Celery) -> None:
    transport_options: dict = {"visibility_timeout": settings.CELERY_BROKER_VISIBILITY_TIMEOUT}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # Embedded default: a folder queue shared by the API and the worker processes.
        folder = settings.CELERY_BROKER_DIR
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options.update(
            data_folder_in=str(folder / "queue"),
            data_folder_out=str(folder / "queue"),
            processed_folder=str(folder / "processed"),
            control_folder=str(folder / "control"),
            store_processed=False,
        )
    else:
        transport_options.update(
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
            # Message priorities (plan tiers): 0 is served first.
            priority_steps=list(range(10)),
            queue_order_strategy="priority",
            sep=":",
        )

    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        timezone="UTC",
        enable_utc=True,
        task_default_queue="default",
        # Each queue its own exchange and key: with a shared key a gpu message would
        # also land in the default queue.
        task_queues=(
            Queue("default", Exchange("default", type="direct"), routing_key="default"),
            Queue("gpu", Exchange("gpu", type="direct"), routing_key="gpu"),
        ),
        task_default_exchange="default",
        task_default_routing_key="default",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
        task_time_limit=settings.CELERY_TASK_TIME_LIMIT,
        worker_send_task_events=True,
        task_send_sent_event=True,
        beat_schedule={
            name: {
                "task": task,
                "schedule": float(getattr(settings, interval)),
                # A run that waited a whole interval is superseded by the next one.
                "options": {"queue": "default", "expires": float(getattr(settings, interval))},
            }
            for name, task, interval in _PERIODIC_TASKS
        },
    )


_configure(app)
app.autodiscover_tasks()
