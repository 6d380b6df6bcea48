"""`/` and `/api/v1/`: what this server is and where its API, docs and schema are.

The `make run` banner prints `/api/v1/` as the API's address; a client or a person opening it
gets this small index instead of a 404. The docs and schema links are given only where those
pages are served (API_DOCS_ENABLED, off by default in production).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from .errors import error_body


@csrf_exempt  # as config.errors.json_404: a POST here is a JSON 405, not a CSRF page
def api_index(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
                                status=405)
        response["Allow"] = "GET, HEAD"
        return response
    spectacular = settings.SPECTACULAR_SETTINGS
    body = {
        "name": spectacular["TITLE"],
        "version": spectacular["VERSION"],
        "api": request.build_absolute_uri(reverse("api-index")),
    }
    if settings.API_DOCS_ENABLED:
        schema = request.build_absolute_uri(reverse("schema"))
        body |= {"docs": request.build_absolute_uri(reverse("docs")), "schema": schema,
                 "schema_json": f"{schema}?format=json"}
    return JsonResponse(body)
