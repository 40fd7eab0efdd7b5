"""The connection's extras: one pydantic model, from which the connection form is generated too.

The same :class:`ConnectionExtras` reads the extras of every connection (UI, ``airflow connections
add``, ``AIRFLOW_CONN_*`` JSON or URI, where every value arrives as a string) and describes the
labelled fields of the Airflow UI form (:func:`connection_form_fields`), so the form and the parser
cannot drift apart. Pure: no Airflow import, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_RATE_LIMIT_WAIT = 60.0


def _no_bool(value: Any) -> Any:
    # pydantic reads true as 1; a number of seconds or retries written as true is a mistake.
    if isinstance(value, bool):
        raise ValueError("should be a number, not true/false")
    return value


Number = Annotated[float, BeforeValidator(_no_bool)]
WholeNumber = Annotated[int, BeforeValidator(_no_bool)]


class ConnectionExtras(BaseModel):
    """The extras of a ``voucherify`` connection. Each field's title and description label the form.

    Values may be strings (``"12.5"``, ``"3"``, ``"false"``), as connection URIs give them; an empty
    value means the default. Unknown keys are kept aside in :attr:`unknown` (the hook warns about
    them, naming each), never an error: an extra of a newer release must not break an older one.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    timeout: Number = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        title="Timeout (seconds)",
        description="Read timeout of one HTTP request, in seconds (more than 0).",
    )
    max_retries: WholeNumber = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        title="Max retries",
        description="Retries after the first attempt on 429, 5xx and connection errors (0 or more).",
    )
    retry_backoff: Number = Field(
        default=DEFAULT_BACKOFF,
        ge=0,
        title="Retry backoff (seconds)",
        description="Base of the exponential backoff between retries, in seconds (doubles each retry).",
    )
    max_rate_limit_wait: Number = Field(
        default=DEFAULT_MAX_RATE_LIMIT_WAIT,
        ge=0,
        title="Max rate-limit wait (seconds)",
        description="Longest the hook sleeps in-process on one 429; a longer wait raises at once.",
    )
    verify_tls: bool = Field(
        default=True,
        title="Verify TLS certificates",
        description="Leave on. Turning it off is logged as a warning on every connection.",
    )
    share_list_calls: bool = Field(
        default=True,
        title="Share list calls in the triggerer",
        description="Waits of this connection in one triggerer merge their async-action list calls.",
    )

    unknown: tuple[str, ...] = Field(default=(), exclude=True)

    @field_validator("unknown", mode="before")
    @classmethod
    def _sorted(cls, value: Any) -> Any:
        return tuple(sorted(value)) if isinstance(value, (list, set, tuple)) else value

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The extras a user can set (every field but :attr:`unknown`)."""
        return tuple(name for name in cls.model_fields if name != "unknown")

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> ConnectionExtras:
        """Read a connection's ``extra_dejson``.

        :raises ValueError: naming the extra and the rule, for the first invalid value
        """
        known = cls.field_names()
        values = {key: value for key, value in extra.items() if key in known and value not in (None, "")}
        unknown = [key for key in extra if key not in known]
        try:
            return cls.model_validate({**values, "unknown": unknown})
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            name = ".".join(str(part) for part in error["loc"])
            raise ValueError(
                f"Connection extra {name!r}: {error['msg']} (got {values.get(name)!r})"
            ) from None

    def describe_unknown(self) -> str | None:
        """A warning naming each unknown extra, with the closest known name when there is one."""
        if not self.unknown:
            return None
        names = []
        for key in self.unknown:
            close = difflib.get_close_matches(key, self.field_names(), n=1)
            names.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        known = ", ".join(self.field_names())
        return f"Unknown connection extra {', '.join(names)}: ignored. Known extras: {known}"


def connection_form_fields() -> dict[str, Any]:
    """The ``conn-fields`` of ``get_provider_info()``: one labelled form field per extra."""
    schema = ConnectionExtras.model_json_schema()["properties"]
    fields = {}
    for name in ConnectionExtras.field_names():
        prop = schema[name]
        field_schema: dict[str, Any] = {"type": [prop["type"], "null"], "default": prop["default"]}
        for bound in ("minimum", "exclusiveMinimum", "maximum"):
            if bound in prop:
                field_schema[bound] = prop[bound]
        fields[name] = {"label": prop["title"], "description": prop["description"], "schema": field_schema}
    return fields


def connection_form_widgets() -> dict[str, Any]:
    """The same fields as :func:`connection_form_fields`, as WTForms fields: the form of Airflow 3.1.

    Airflow 3.1 does not read ``conn-fields``; it asks the hook's ``get_connection_form_widgets()``
    (3.2 and later skip that method when ``conn-fields`` is declared). Its UI replaces WTForms'
    field classes with its own while it calls this, so the fields are looked up here, at call time.
    Airflow accepts only ``StringField``, ``IntegerField``, ``PasswordField`` and ``BooleanField``:
    a number of seconds is a ``StringField`` holding the default as text, which the parser reads.

    :returns: extra name -> an unbound WTForms field, labelled and described as in ``conn-fields``
    :raises ImportError: when WTForms is not installed (Airflow then shows no extras, and says so)
    """
    import wtforms
    from wtforms import validators

    fields: dict[str, Any] = {}
    for name, field in connection_form_fields().items():
        kind = field["schema"]["type"][0]
        default = field["schema"]["default"]
        common = {"label": field["label"], "description": field["description"]}
        if kind == "boolean":
            fields[name] = wtforms.BooleanField(default=default, **common)
        elif kind == "integer":
            fields[name] = wtforms.IntegerField(default=default, validators=[validators.Optional()], **common)
        else:
            fields[name] = wtforms.StringField(
                default=f"{default:g}", validators=[validators.Optional()], **common
            )
    return fields
