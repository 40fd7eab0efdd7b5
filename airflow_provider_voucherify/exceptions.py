r"""Errors raised by the Voucherify provider.

The tree is small on purpose::

    VoucherifyError                      anything this provider raises on purpose
    ├── VoucherifyApiError               the API answered with an error status
    │   ├── VoucherifyAuthError          401 / 403: wrong App ID or Secret Key, never retried
    │   └── VoucherifyRateLimitError     429 the hook will not sleep through (too long, or the
    │                                    billing cycle's quota is spent); carries retry_at
    ├── VoucherifyTransportError         no answer at all after every retry (connection, timeout)
    ├── VoucherifyNotApiError            the host answered, but not with the API's JSON (an HTML
    │                                    page: the dashboard's address, a proxy); never retried
    ├── VoucherifyUnsafeRetryError       an import POST may have landed and cannot be retried safely
    ├── InvalidOrderError                an input record failed validation (no personal data inside)
    │   └── InvalidOrdersFileError       the input is not JSON Lines at all: a JSON array, a line
    │                                    longer than any import, a format not read, text that
    │                                    is not UTF-8, a cut-short stream; fails whatever
    │                                    on_invalid says
    ├── MetadataSchemaError              the project's metadata schema would refuse every order
    └── ExportFailedError                an export ended with another status than ``DONE``
                                         (``ERROR``, or one the spec does not name); never retried
    ConnectionConfigError (a ValueError) the connection cannot be used as it is (bad host or keys)

Messages name the endpoint, the HTTP status, the API's ``key`` and ``details`` and the
``request_id``, so an on-call engineer can quote them to Voucherify support. They never carry
the App Token or the content of an order.

**Airflow sees them as ``AirflowException``\ s,** without this module deriving from it: every
error that leaves the hook, an operator or the sensor is its class's *Airflow flavour*, a
subclass of both (:mod:`~airflow_provider_voucherify.airflow_errors`), so ``except
AirflowException`` in a callback catches it and ``except VoucherifyRateLimitError`` still does.
Why not ``class VoucherifyError(AirflowException)`` here: the engines (``importing/``,
``waiting/``, ``reconcile/``, ``error_policy``, ``rate_limits``) import this module and must not
import Airflow (the import-linter contract in pyproject.toml), and importing
``airflow.exceptions`` is not cheap: it runs ``airflow/__init__``, which loads Airflow's
configuration and settings and SQLAlchemy (measured with ``python -X importtime -c "import
airflow.exceptions"`` on Airflow 3.1.0, 3.2.0 and 3.3.2: 1,300 to 1,600 modules, 5 to 8 s on a busy
2-core machine, against 0.3 s for this package's ``exceptions`` with pydantic).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

API_CALLS_CYCLE = "api_calls_cycle"


class VoucherifyError(Exception):
    """Base class of every error raised on purpose by this provider.

    Errors of an API call also carry ``url`` (the resolved URL tried) and ``conn_id`` (the
    Airflow connection), both named at the end of the message; never the App Token.
    """

    url: str | None = None
    conn_id: str | None = None

    def locate(self, *, url: str, conn_id: str) -> Self:
        """Name the resolved ``url`` and the connection in the message (once); returns ``self``."""
        if self.url is None:
            self.url, self.conn_id = url, conn_id
            head = self.args[0] if self.args else ""
            self.args = (f"{head} (url={url}, connection {conn_id!r})", *self.args[1:])
        return self


class VoucherifyApiError(VoucherifyError):
    """The API answered with an error status.

    :param endpoint: method and path, e.g. ``POST /v1/orders/import``
    :param status_code: the HTTP status
    :param key: the API's error key (``invalid_payload``, ...), when the body had one
    :param message: the API's message
    :param details: the API's details (names the offending property for a 400)
    :param request_id: the API's request id (``v-...``), to quote to Voucherify support
    """

    def __init__(
        self,
        endpoint: str,
        status_code: int,
        *,
        key: str | None = None,
        message: str | None = None,
        details: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        self.key = key
        self.message = message
        self.details = details
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.endpoint} answered {self.status_code}"]
        if self.key:
            parts.append(f"key={self.key}")
        if self.message:
            parts.append(f"message={self.message!r}")
        if self.details:
            parts.append(f"details={self.details!r}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return ", ".join(parts)


class VoucherifyAuthError(VoucherifyApiError):
    """401 or 403: the Application ID or Secret Key is wrong or lacks the permission."""


class VoucherifyRateLimitError(VoucherifyApiError):
    """429: a rate limit the hook does not sleep through in-process.

    Raised at once when the window reopens later than the hook's ``max_rate_limit_wait``, when
    the plan's quota for the billing cycle is spent (``limit_type == "api_calls_cycle"``: waiting
    is pointless, it lasts until the cycle ends), or when a 429 persists past ``max_retries``.

    :param limit_type: the limit that was hit, from ``X-Rate-Limit-Type`` (``api_calls``,
        ``bulk_api_calls``, ``api_calls_cycle``, ...), or ``None`` when the answer did not say
    :param retry_at: epoch seconds (wall clock) when the window reopens, from ``Retry-After`` /
        ``X-Rate-Limit-Retry``; ``None`` when the answer named no time
    :param waited_limit: the hook's ``max_rate_limit_wait`` when that is why it gave up
    """

    def __init__(
        self,
        endpoint: str,
        status_code: int = 429,
        *,
        limit_type: str | None = None,
        retry_at: float | None = None,
        waited_limit: float | None = None,
        key: str | None = None,
        message: str | None = None,
        details: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.limit_type = limit_type
        self.retry_at = retry_at
        self.waited_limit = waited_limit
        super().__init__(
            endpoint, status_code, key=key, message=message, details=details, request_id=request_id
        )

    def _describe(self) -> str:
        text = super()._describe()
        if self.limit_type:
            text += f", limit_type={self.limit_type}"
        when = (
            datetime.fromtimestamp(self.retry_at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.retry_at is not None
            else None
        )
        if self.limit_type == API_CALLS_CYCLE:
            return (
                f"{text}. The plan's quota of API calls for this billing cycle is used up: every "
                f"call is refused until the cycle ends{f' ({when})' if when else ''}. Waiting is "
                "pointless; raise the plan's quota or continue in the next billing cycle."
            )
        if when:
            text += f", window reopens at {when}"
        if self.waited_limit is not None:
            text += (
                f"; that is longer than max_rate_limit_wait={self.waited_limit:g} s, so the hook "
                "does not sleep through it"
            )
        return text


class VoucherifyTransportError(VoucherifyError):
    """No answer from the API after every retry (connection refused, timeout, connection reset)."""


class VoucherifyNotApiError(VoucherifyError):
    """The host answered a success status with something that is not the API's JSON (an HTML page
    from the dashboard's address or a captive proxy, say): the connection points at the wrong host.

    Not retried, by the hook or by a task retry: the same host gives the same page.

    :param endpoint: method and path, e.g. ``GET /v1/async-actions``
    :param status_code: the HTTP status of the answer
    :param content_type: the answer's ``Content-Type``, when it had one
    """

    def __init__(self, message: str, *, endpoint: str, status_code: int, content_type: str | None) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        self.content_type = content_type
        super().__init__(message)


class VoucherifyUnsafeRetryError(VoucherifyError):
    """An import POST may have reached Voucherify, and retrying could import its orders twice.

    Raised instead of retrying when the outcome of a POST is unknown (read timeout, lost answer,
    500) and not every order of the batch has a ``source_id``: only ``source_id`` makes a
    repeated import an update rather than a duplicate.
    """


class InvalidOrderError(VoucherifyError, ValueError):
    """An input record is not a valid order.

    :param errors: ``(field path, reason)`` pairs; never the offending values, which may be
        personal data.
    :param line: the 1-based line (or list position) of the record, when known
    :param source_id: the record's ``source_id``, when it has one
    """

    def __init__(
        self,
        errors: Sequence[tuple[str, str]],
        *,
        line: int | None = None,
        source_id: str | None = None,
    ) -> None:
        self.errors = list(errors)
        self.line = line
        self.source_id = source_id
        where = []
        if line is not None:
            where.append(f"line {line}")
        if source_id is not None:
            where.append(f"source_id={source_id!r}")
        head = f"Invalid order ({', '.join(where)})" if where else "Invalid order"
        reasons = "; ".join(f"{path}: {reason}" if path else reason for path, reason in self.errors)
        super().__init__(f"{head}: {reasons}")


class InvalidOrdersFileError(InvalidOrderError):
    """The orders file cannot be read as JSON Lines, so no record of it can be trusted.

    Raised for a file that is a JSON array (pretty-printed or on one line), a line longer than one
    import takes, a format that is not read (zip, zstd, ...), text that is not UTF-8, and a
    compressed stream that is cut short or corrupt; ``on_invalid="skip"`` does not apply, since
    nothing after it is known to be a record.

    :param reason: what is wrong and how to fix it
    :param line: the 1-based line where reading stopped
    :param file: the file's name (path or URI); the reader adds it when it is not given
    """

    def __init__(self, reason: str, *, line: int | None = None, file: str | None = None) -> None:
        super().__init__([("", reason)], line=line)
        self.reason, self.file = reason, file
        self.sent_before: str | None = None
        self._describe()

    def _describe(self) -> None:
        name = f" {self.file!r}" if self.file is not None else ""
        where = f" (line {self.line})" if self.line is not None else ""
        after = f". {self.sent_before}" if self.sent_before else ""
        self.args = (f"Orders file{name} cannot be read{where}: {self.reason}{after}",)

    def in_file(self, file: str) -> Self:
        """Name ``file`` in the message, unless a file is already named."""
        if self.file is None:
            self.file = file
            self._describe()
        return self

    def after_sending(self, what: str) -> Self:
        """Say in the message what was sent before reading stopped (``what``: a sentence)."""
        self.sent_before = what
        self._describe()
        return self


class MetadataSchemaError(VoucherifyError):
    """The project's metadata schema would refuse what every order carries (found before any bulk
    call, so nothing was sent): the message names the key and the type to define."""


class ExportFailedError(VoucherifyError):
    """An export (``GET /v1/exports/{id}``) ended with another status than ``DONE``: ``ERROR``, or
    a status the spec does not name. The message names the export and its status; a task retry
    would only ask for the same export again, so it is not retried."""


class ConnectionConfigError(ValueError):
    """The connection cannot be used as it is (bad host, missing credentials, bad extra)."""
