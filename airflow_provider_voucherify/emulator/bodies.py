"""Reading a bulk body and writing it back one canonical JSON document per line, fast.

The accept path of ``POST /v1/orders/import`` runs on the same cores as the client it serves (and
in the same process as the import worker), so each millisecond it spends per batch is one the
client waits. msgspec (a dependency of Airflow itself) decodes and encodes several times faster
than the standard library; the standard library stays the reference: whatever msgspec cannot
read exactly as ``json.loads`` would (a byte-order mark, UTF-16, ``NaN``, a lone surrogate, a
number too large for a float, nesting deeper than msgspec goes), the body goes the standard way,
so what is accepted or refused, and the error text of a refusal, do not depend on the fast path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import msgspec

from airflow_provider_voucherify.emulator.validation import js_number, parse_body

# Sorted keys: two bodies with the same orders in another key order have the same hash.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False).encode


class NotExact(Exception):
    """A value the fast path does not write back exactly as the standard one (infinity)."""


def finite_js_number(text: str) -> float | int:
    """msgspec's ``float_hook``: a number with a fraction or an exponent as :func:`~.validation.js_number`
    reads it (``1.0`` is ``1``).

    :raises NotExact: for an infinity (too large a number), which only the standard path writes back
    """
    number = js_number(text)
    if isinstance(number, float) and not math.isfinite(number):
        raise NotExact(text)  # json writes Infinity, msgspec null: leave it to json
    return number


_decode = msgspec.json.Decoder(float_hook=finite_js_number).decode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def read_body(raw: bytes) -> tuple[Any, Callable[[Any], bytes]]:
    """``raw`` parsed as :func:`~.validation.parse_body` parses it, with the function that writes
    one of its documents back canonically (sorted keys, no spaces; one line, as newlines in strings
    are escaped).

    :raises ValueError: when the body is not JSON (the standard library's error)
    """
    try:
        return _decode(raw), _encode_sorted
    except (msgspec.DecodeError, NotExact):
        return parse_body(raw), _standard


def _standard(document: Any) -> bytes:
    return _canonical(document).encode()


def canonical_lines(documents: list[Any], encode: Callable[[Any], bytes] = _standard) -> bytes:
    """The documents, one canonical JSON text per line (what the import workers read); ``encode``
    is the one :func:`read_body` gave (the standard library's by default)."""
    try:
        return b"\n".join([encode(document) for document in documents])
    except (TypeError, UnicodeEncodeError, OverflowError, msgspec.EncodeError):
        return b"\n".join([_standard(document) for document in documents])


_decode_any = msgspec.json.decode


def read_lines(lines: list[str]) -> list[Any]:
    """The documents of :func:`canonical_lines`, as ``json.loads`` reads each line.

    msgspec reads what the standard library writes except ``NaN``, ``Infinity`` and lone
    surrogates (which the standard path of :func:`read_body` may have let through): a chunk holding
    one is read line by line with ``json``.
    """
    try:
        documents: list[Any] = _decode_any("[" + ",".join(lines) + "]")
    except msgspec.DecodeError:
        return [json.loads(line) for line in lines]
    return documents
