"""Which errors a retry of the task can cure, and which fail it at once (``AirflowFailException``).

A retry reads the whole input again and spends API calls, so an error that will come back the
same way must not be retried:

==========================================================  =====================================
fails at once (``AirflowFailException``, original as cause)  stays retryable (plain exception)
==========================================================  =====================================
401 / 403: wrong Application ID or Secret Key                429, 5xx, lost connections, timeouts
400 / 422 on a batch (the API refuses the payload)          (after the hook's own retries)
404 (an unknown async action id, a wrong base URL path)     a connection that does not exist
an invalid record with ``on_invalid="fail"``                an import that ended ``FAILED``: the
more invalid records than ``max_invalid``                   retry sends that batch again
a file that is not JSON Lines (bad gzip)                    a wait that timed out
a connection whose host or keys are malformed
429 ``api_calls_cycle``: the billing cycle's quota is spent
an import whose outcome is unknown and which cannot be
resent safely (orders without ``source_id``)
==========================================================  =====================================

Pure classification (:func:`retry_cannot_cure`) plus one context manager (:func:`fail_fast`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_voucherify.exceptions import (
    API_CALLS_CYCLE,
    InvalidOrderError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyRateLimitError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.hooks._config import ConnectionConfigError

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = ["AirflowFailException", "fail_fast", "retry_cannot_cure"]

# Statuses that answer the same way to the same request, however often it is sent.
DETERMINISTIC_STATUSES = frozenset({400, 401, 403, 404, 422})


def retry_cannot_cure(exc: BaseException) -> bool:
    """Whether running the task again would meet ``exc`` again (see the module's table)."""
    if isinstance(exc, (VoucherifyAuthError, InvalidOrderError, ConnectionConfigError)):
        return True
    if isinstance(exc, VoucherifyUnsafeRetryError):
        return True  # a retry would do exactly what the hook refused: send the batch again
    if isinstance(exc, VoucherifyRateLimitError):
        return exc.limit_type == API_CALLS_CYCLE  # refused until the billing cycle ends, days away
    if isinstance(exc, VoucherifyApiError):
        return exc.status_code in DETERMINISTIC_STATUSES
    return isinstance(exc, (gzip.BadGzipFile, zlib.error))


@contextmanager
def fail_fast(what: str) -> Iterator[None]:
    """Re-raise an error :func:`retry_cannot_cure` as ``AirflowFailException`` (no retry).

    :param what: what was being done, e.g. ``"Import"``; starts the message
    """
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if not retry_cannot_cure(exc):
            raise
        raise AirflowFailException(
            f"{what} failed, not retried (a retry would fail the same way): {exc}"
        ) from exc
