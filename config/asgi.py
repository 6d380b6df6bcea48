"""ASGI entry point: HTTP goes to Django, `/ws/` to the user socket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.urls import path  # noqa: E402

from accounts.consumers import UserSocketConsumer  # noqa: E402
from accounts.ws_auth import JwtAuthMiddleware, origin_validated  # noqa: E402

websocket_urlpatterns = [
    path("ws/", UserSocketConsumer.as_asgi()),
]


def build_websocket_app():
    """Origin check, then token auth, then routing. Reads WS_ALLOWED_ORIGINS when called."""
    return origin_validated(JwtAuthMiddleware(URLRouter(websocket_urlpatterns)))


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": build_websocket_app()})
