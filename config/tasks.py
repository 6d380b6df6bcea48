"""Sending Celery tasks: the one way every app does it.

A task message is a hint; the row it names is the truth. It is sent only after the
transaction that wrote that row commits (a worker must never see a row that then rolls
back, nor miss one that is still uncommitted), and outside a transaction at once.
Code that runs outside any transaction (beat fan-outs, re-sends) sends with task_send_now.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .celery import app

DEFAULT_QUEUE = "default"


def task_send_now(name: str, *args: Any, queue: str = DEFAULT_QUEUE, **options: Any) -> None:
    app.send_task(name, args=list(args), queue=queue, **options)


def task_send_on_commit(name: str, *args: Any, queue: str = DEFAULT_QUEUE, **options: Any) -> None:
    transaction.on_commit(lambda: task_send_now(name, *args, queue=queue, **options))
