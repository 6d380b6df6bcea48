"""ASGI entry point: HTTP goes to Django, `/ws/` to the user socket."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.urls import path  # noqa: E402

from accounts.consumers import UserSocketConsumer  # noqa: E402
from accounts.ws_auth import JwtAuthMiddleware, origin_validated  # noqa: E402
from config.limits import BodyLimitASGIMiddleware  # noqa: E402

websocket_urlpatterns = [
    path("ws/", UserSocketConsumer.as_asgi()),
]


def build_websocket_app():
    """Origin check, then token auth, then routing. Reads WS_ALLOWED_ORIGINS when called."""
    return origin_validated(JwtAuthMiddleware(URLRouter(websocket_urlpatterns)))


# Around Django: too large a body is refused before Django reads it (config/limits.py).
application = ProtocolTypeRouter({"http": BodyLimitASGIMiddleware(django_asgi_app), "websocket": build_websocket_app()})

# Import every view now, while the worker starts, instead of during its first request (a
# quarter of a second: the URLconf pulls in the apps' APIs and the SDKs they use), which
# would land in the p99 of every freshly started or scaled-out worker.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018  (evaluated for its side effect)

# The garbage collector, tuned for a request server: what was loaded at start-up (Django,
# the apps, the SDKs) is frozen out of every collection, so a full collection scans only what
# was made since; and the youngest generation is collected every 2,000 allocations instead of
# 700: fewer, still short pauses, and the least collector time of the thresholds measured
# (bench/RESULTS.md). Every collection stops the worker's requests in flight, so its length
# lands in the p99: a much larger threshold makes each pause long.
gc.freeze()
gc.set_threshold(2_000, 20, 20)
