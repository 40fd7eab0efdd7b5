"""Identifiers and timestamps shaped like the real API's (``aa_0c5564b67d0e571534``, ``v-...``)."""

from __future__ import annotations

import random
import secrets
import string
import time
from datetime import datetime, timezone

_ALNUM = string.ascii_letters + string.digits
# Ids only need to be unique, not secret: a non-cryptographic generator keeps order creation cheap.
_rng = random.Random(secrets.randbits(64))
# Random bytes mapped onto the 62 letters and digits in C (one call per id, not one per character):
# 8 of them come up 5 times in 256 instead of 4: 142.8 bits per id instead of 142.9, as unique.
_BYTE_TO_ALNUM = bytes((_ALNUM * 5)[:256], "ascii")


def hex_id(prefix: str) -> str:
    """An id like ``aa_0c5564b67d0e571534``: prefix and 18 hex digits."""
    return f"{prefix}_{_rng.getrandbits(72):018x}"


def alnum_id(prefix: str) -> str:
    """An id like ``ord_v5vupdacgud1CwUSyKqSlHuk``: prefix and 24 letters or digits."""
    return prefix + "_" + _rng.randbytes(24).translate(_BYTE_TO_ALNUM).decode("ascii")


def request_id() -> str:
    return f"v-{_rng.getrandbits(72):018x}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the API writes dates."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
