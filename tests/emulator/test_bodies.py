"""The fast body reader reads every body exactly as the standard library does, or leaves it to it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.bodies import canonical_lines, read_body
from airflow_provider_voucherify.emulator.validation import parse_body

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20) | st.sampled_from(["é", "\u2028", "\n"])
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**60), max_value=2**60).map(float),  # integral floats: 1999.0
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=25,
)
# The ways a client writes JSON: compact or spaced, ASCII or UTF-8, keys in any order.
dumps = st.sampled_from(
    [
        lambda value: json.dumps(value).encode(),
        lambda value: json.dumps(value, ensure_ascii=False, indent=1).encode(),
        lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True).encode(),
    ]
)


def _standard(document: Any) -> Any:
    """``document`` as the standard library writes it canonically (sorted keys) and reads it back."""
    return json.loads(json.dumps(document, sort_keys=True, separators=(",", ":")))


def _same(left: Any, right: Any) -> bool:
    """Equal, NaN included (NaN != NaN), and of the same types (1 is not 1.0 here)."""
    if isinstance(left, float) and isinstance(right, float) and left != left:
        return right != right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[key], right[key]) for key in left)
    return bool(left == right)


@pytest.mark.exhaustive
@settings(max_examples=400, deadline=None)
@given(st.lists(values, min_size=1, max_size=5), dumps)
def test_a_body_reads_and_writes_back_as_the_standard_library_would(documents: list[Any], dump: Any) -> None:
    raw = dump(documents)
    read, encode = read_body(raw)
    assert _same(read, parse_body(raw))
    lines = canonical_lines(read, encode).split(b"\n")
    assert len(lines) == len(read)  # one document per line, whatever newlines the strings hold
    for line, document in zip(lines, read, strict=True):
        assert _same(json.loads(line), _standard(document))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf[1]",  # a byte-order mark: json.loads reads it
        b"[NaN, Infinity]",
        b"[1e400]",  # infinity, which json writes back as Infinity
        b'["\\ud800"]',  # a lone surrogate
        "[1]".encode("utf-16"),
        b"[" * 100_000 + b"]" * 100_000,  # deeper than msgspec goes
    ],
)
def test_what_the_fast_path_cannot_read_goes_the_standard_way(raw: bytes) -> None:
    try:
        expected = parse_body(raw)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc), match="^" + str(exc)[:30].replace("[", r"\[")):
            read_body(raw)
        return
    read, encode = read_body(raw)
    assert _same(read, expected)
    assert _same([json.loads(line) for line in canonical_lines(read, encode).split(b"\n")], _standard(read))


@pytest.mark.parametrize(("raw", "message"), [(b"[1,", "Expecting value"), (b"", "Expecting value")])
def test_invalid_json_is_refused_with_the_standard_message(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_body(raw)
