"""What to install when one of the emulator's optional dependencies is missing."""

from __future__ import annotations

import importlib.util

PACKAGE = "airflow-provider-voucherify"
# What the `emulator` extra brings (Starlette comes with FastAPI).
EXTRA_MODULES = frozenset({"fastapi", "starlette", "uvicorn"})


def install_hint(missing: str | None, extra: str = "emulator") -> str:
    """The message for a missing module: which one, and the ``pip install`` line that brings it."""
    return (
        f"The Voucherify emulator needs the Python package {missing or 'that could not be imported'!r}, "
        f"which is not installed. Install the {extra!r} extra: pip install '{PACKAGE}[{extra}]'"
    )


def require(*modules: str, extra: str = "emulator") -> None:
    """Raise ``ModuleNotFoundError`` with :func:`install_hint` unless every module is importable."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(install_hint(module, extra), name=module)
