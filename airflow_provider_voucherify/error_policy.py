"""Which errors a resend, a wait, a rate limit's window or a task retry can cure: one table.

Every place that meets an error asks here, so that the answer is the same everywhere: the hook
(resend a request?), the waiting planner (poll on?), the import and the reconciliation (wait for
the window?), and the operators (let Airflow retry the task, or fail it at once?).

===============================================  ======  ====  ======  ==========
error                                            resend  wait  window  task retry
===============================================  ======  ====  ======  ==========
429 ``api_calls`` / ``bulk_api_calls``           yes     yes   yes     yes
429 ``api_calls_cycle`` (the billing cycle)      no      no    no      no
502 / 503 / 504, a request never sent            yes     yes   --      yes
500, or no answer, to a request resent safely    yes     yes   --      yes
500, or no answer, to an unsafe import           no      --    --      no
401 / 403 (wrong Application ID or Secret Key)   no      no    --      no
400 / 404 / 422 (payload, unknown id, bad path)  no      no    --      no
an invalid record, a file that is not JSON Lines --      --    --      no
a malformed connection, a refusing schema        --      --    --      no
a 200 that is not the API's JSON (a web page)    no      no    --      no
an export that ended ``ERROR`` (not ``DONE``)    --      no    --      no
an import that ended ``FAILED``, a timed-out     --      --    --      yes (the retry sends
wait, a connection that does not exist                                 the batch again)
===============================================  ======  ====  ======  ==========

"Resend": the hook's own retries inside one call (:mod:`~airflow_provider_voucherify.hooks._retry`
applies the statuses below). "Wait": a wait for async actions keeps polling
(:func:`waiting_can_cure`). "Window": the caller waits until the limit's window reopens
(:func:`reopens_at`). "Task retry": Airflow runs the task again (:func:`retry_cannot_cure`): a
retry reads the whole input again and spends API calls, so an error that will come back the same
way fails the task at once instead.

Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import gzip
import time
import zlib

from airflow_provider_voucherify.exceptions import (
    API_CALLS_CYCLE,
    ConnectionConfigError,
    ExportFailedError,
    InvalidOrderError,
    MetadataSchemaError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyNotApiError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)

# Rejected before the server did anything: always safe to send again.
RETRY_ALWAYS_STATUSES = frozenset({429, 502, 503, 504})
# The server may have acted on the request before failing: resent only when that is safe.
OUTCOME_UNKNOWN_STATUSES = frozenset({500})
# Statuses that answer the same way to the same request, however often it is sent.
DETERMINISTIC_STATUSES = frozenset({400, 401, 403, 404, 422})
# A 429 that names no time (never seen from Voucherify): come back in a minute.
RETRY_UNNAMED_WAIT = 60.0


def resend_can_cure(status: int, *, resend_safe: bool) -> bool:
    """Whether the hook may send a request again after the answer ``status``.

    :param resend_safe: whether sending it again cannot do harm even if the first one was acted on
    """
    return status in RETRY_ALWAYS_STATUSES or (status in OUTCOME_UNKNOWN_STATUSES and resend_safe)


def waiting_can_cure(exc: BaseException) -> bool:
    """Whether waiting longer may cure ``exc``: 429 (but ``api_calls_cycle``), 5xx and lost connections."""
    if isinstance(exc, VoucherifyTransportError):
        return True
    if isinstance(exc, VoucherifyRateLimitError) and exc.limit_type == API_CALLS_CYCLE:
        return False  # the billing cycle's quota: spent until the cycle ends, days away
    return (
        isinstance(exc, VoucherifyApiError)
        and not isinstance(exc, VoucherifyAuthError)
        and (exc.status_code == 429 or exc.status_code >= 500)
    )


def reopens_at(exc: VoucherifyRateLimitError, now: float | None = None) -> float:
    """When (epoch seconds) the window that refused the call reopens.

    :param now: epoch seconds (default: the wall clock), for a 429 that named no time
    :raises VoucherifyRateLimitError: ``exc`` itself for ``api_calls_cycle`` (waiting is pointless)
    """
    if exc.limit_type == API_CALLS_CYCLE:
        raise exc
    if exc.retry_at is not None:
        return exc.retry_at
    return (time.time() if now is None else now) + RETRY_UNNAMED_WAIT


def retry_cannot_cure(exc: BaseException) -> bool:
    """Whether running the task again would meet ``exc`` again (see the module's table)."""
    if isinstance(
        exc,
        (
            VoucherifyAuthError,
            InvalidOrderError,
            ConnectionConfigError,
            MetadataSchemaError,
            VoucherifyNotApiError,
            ExportFailedError,
        ),
    ):
        return True
    if isinstance(exc, VoucherifyUnsafeRetryError):
        return True  # a retry would do exactly what the hook refused: send the batch again
    if isinstance(exc, VoucherifyRateLimitError):
        return exc.limit_type == API_CALLS_CYCLE  # refused until the billing cycle ends, days away
    if isinstance(exc, VoucherifyApiError):
        return exc.status_code in DETERMINISTIC_STATUSES
    return isinstance(exc, (gzip.BadGzipFile, zlib.error))
