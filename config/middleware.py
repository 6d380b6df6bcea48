"""Middleware of our own."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import Http404
from django.http.request import split_domain_port

from config.http import client_ip


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


class AdminAccessMiddleware:
    """The admin only on its hosts (ADMIN_HOSTS) and to its client addresses (ADMIN_ALLOWED_IPS).

    Elsewhere every path under ADMIN_URL_PREFIX, the bare prefix included (which would otherwise
    redirect to it), is the 404 of a path that does not exist: a scan cannot tell there is an
    admin, nor try passwords on it. The client address is config.http.client_ip's (NUM_PROXIES).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if f"{request.path_info}/".startswith(f"/{settings.ADMIN_URL_PREFIX}") and not _admin_allowed(request):
            raise Http404("Not found.")
        return self.get_response(request)


def _admin_allowed(request) -> bool:
    if settings.ADMIN_HOSTS and split_domain_port(request.get_host())[0].lower() not in settings.ADMIN_HOSTS:
        return False
    if not settings.ADMIN_ALLOWED_IPS:
        return True
    ip = client_ip(request)
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.ADMIN_ALLOWED_IPS)))


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
