"""Provider HTTP answers as our backend errors, the same for every SDK (their exceptions all
carry the status, the parsed error body and the response headers)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ..base import BackendError, PermanentBackendError, ProviderQuotaExhausted, TransientBackendError
from .flow import RemoteGone, is_rejection

logger = logging.getLogger(__name__)


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def status_error(*, provider: str, action: str, status: int, code: str, error_type: str, message: str,
                 headers: Any, quota: bool, log: dict) -> BackendError:
    """`quota`: the provider's way of saying the account's credit is spent (each says it its own way)."""
    extra = {**log, "http_status": status, "remote_code": code, "remote_message": message[:300]}
    if quota:
        logger.error("generation.remote.quota_exhausted", extra=extra)
        return ProviderQuotaExhausted(f"The {provider} quota is exhausted: {message}")
    if status == 429:
        wait = retry_after(headers)
        logger.warning("generation.remote.rate_limited", extra={**extra, "retry_after": wait})
        return TransientBackendError(f"{provider} is rate limiting us ({action}).", code="backend_rate_limited",
                                     retry_after=wait)
    if status >= 500 or status in (408, 409, 425):
        logger.warning("generation.remote.unavailable", extra=extra)
        return TransientBackendError(f"{provider} answered {status} ({action}).", retry_after=retry_after(headers))
    if status in (401, 403):
        logger.error("generation.remote.auth_failed", extra=extra)
        return PermanentBackendError(f"{provider} refused our credentials ({status}).", code="backend_auth_failed")
    if status == 404:
        return RemoteGone(f"{provider} does not know this job ({action}).")
    if is_rejection(code, error_type):
        logger.info("generation.remote.rejected", extra=extra)
        return PermanentBackendError(message, code="backend_rejected")
    logger.error("generation.remote.bad_request", extra=extra)
    return PermanentBackendError(f"{provider} answered {status} ({action}): {message}", code="backend_invalid_request")
