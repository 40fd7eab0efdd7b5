"""The provider's errors as Airflow sees them: every one also an ``AirflowException``, from the shells.

:mod:`~airflow_provider_voucherify.exceptions` cannot derive from ``AirflowException`` (it says
why); so the shells (the hook, the operators, the sensor) pass every provider error that leaves
them through :func:`as_airflow_error`, which gives it its *Airflow flavour*: a subclass of both its
own class and ``AirflowException``, with the same name. The error stays the same object (message,
attributes, traceback, ``__cause__``), ``except VoucherifyRateLimitError`` still catches it, and
``except AirflowException`` in a callback catches it too. The flavour is not
``AirflowFailException``: a task retry still follows Airflow's rules, since Airflow retries an
``AirflowException`` as any other error; the errors a retry cannot cure are already raised as
``AirflowFailException`` (``operators/_task.py``, ``fail_fast``).

The flavours live in this module under their classes' names
(``airflow_provider_voucherify.airflow_errors.VoucherifyApiError``), so a flavoured error pickles.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from airflow_provider_voucherify import exceptions

try:  # Airflow >= 3.2 moved it to the Task SDK (the same class is importable from both).
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = [
    "AirflowException",
    "airflow_errors",
    "airflow_flavour",
    "as_airflow_error",
    "raises_airflow_errors",
]

# What the provider raises on purpose: the tree of exceptions.py.
PROVIDER_ERRORS: tuple[type[Exception], ...] = (exceptions.VoucherifyError, exceptions.ConnectionConfigError)

E = TypeVar("E", bound=BaseException)
C = TypeVar("C", bound=type)
_FLAVOURS: dict[type[BaseException], type[BaseException]] = {}
_MAKING = threading.Lock()  # one flavour per class, even when threads raise at once (pickle needs one)


def airflow_flavour(cls: type[E]) -> type[E]:
    """``cls`` and ``AirflowException`` in one class named as ``cls`` (made once per class)."""
    if issubclass(cls, AirflowException):
        return cls
    with _MAKING:
        flavour = _FLAVOURS.get(cls)
        if flavour is None:
            namespace = {"__module__": __name__, "__qualname__": cls.__name__, "__doc__": cls.__doc__}
            flavour = _FLAVOURS[cls] = type(cls.__name__, (cls, AirflowException), namespace)
    return flavour  # type: ignore[return-value]


def __getattr__(name: str) -> type[BaseException]:
    # Where pickle looks a flavour up: made on first use, in a process that has not raised one yet.
    cls = getattr(exceptions, name, None)
    if isinstance(cls, type) and issubclass(cls, PROVIDER_ERRORS):
        return airflow_flavour(cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_airflow_error(exc: E) -> E:
    """``exc`` itself, made its class's Airflow flavour when it is a provider error."""
    if isinstance(exc, PROVIDER_ERRORS) and not isinstance(exc, AirflowException):
        exc.__class__ = airflow_flavour(type(exc))
    return exc


@contextmanager
def airflow_errors() -> Iterator[None]:
    """Re-raise a provider error leaving the block as its Airflow flavour (the same object)."""
    try:
        yield
    except PROVIDER_ERRORS as exc:
        as_airflow_error(exc)
        raise


def _flavouring(function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            with airflow_errors():
                return await function(*args, **kwargs)

        return coroutine

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with airflow_errors():
            result = function(*args, **kwargs)
        return _iterating(result) if inspect.isgenerator(result) else result

    return call


def _iterating(items: Iterator[Any]) -> Iterator[Any]:
    with airflow_errors():
        yield from items


def raises_airflow_errors(*names: str) -> Callable[[C], C]:
    """Class decorator: the methods ``names`` (by default every public method the class and its
    provider mixins define) raise provider errors as their Airflow flavours; a generator they
    return does too, while it is iterated.
    """

    def decorate(cls: C) -> C:
        own = [k for k in cls.__mro__ if k.__module__.startswith("airflow_provider_voucherify.")]
        chosen = names or tuple(
            name
            for klass in own
            for name, member in vars(klass).items()
            if not name.startswith("_") and inspect.isfunction(member)
        )
        for name in dict.fromkeys(chosen):
            setattr(cls, name, _flavouring(getattr(cls, name)))
        return cls

    return decorate
