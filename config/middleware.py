"""Middleware of our own."""

from __future__ import annotations


class SyncChainMiddleware:
    """Last in MIDDLEWARE, and sync-only, so the whole chain above it runs in one worker thread.

    Under ASGI Django adapts each middleware to the mode of the one below it. Our views are
    sync, and WhiteNoise is sync-only, so without this the chain switched from sync to async
    under WhiteNoise and then ran every MiddlewareMixin's process_request and process_response
    through sync_to_async: about a dozen thread hand-offs per request instead of two. Websockets
    (Channels consumers) do not pass through MIDDLEWARE and stay async.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
