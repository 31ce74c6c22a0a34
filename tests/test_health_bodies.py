"""Fuzzing the health-body parser: whatever an endpoint sends, a bounded verdict comes back."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.domain.health import (
    MAX_DEPTH,
    MAX_METRICS,
    MAX_NAME,
    MAX_NOTES,
    MAX_REASON,
    Outcome,
    classify,
    too_deep,
)

# JSON values as an endpoint might send them: numbers of every kind (NaN and
# infinities included, which Python's json writes), long and hostile strings.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=300)
    | st.sampled_from(["pass", "fail", "DOWN", "ok", "warn", "\x1b[2J", "x" * 5000])
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=MAX_NAME + 20), inner, max_size=8)
    ),
    max_leaves=40,
)
wide = st.dictionaries(
    st.text(min_size=1, max_size=8), st.integers(0, 10**6), min_size=90, max_size=150
)


# Bounded in CI (each wide document is a few thousand bytes of JSON to
# generate); WARROOM_FUZZ_EXAMPLES asks for more.
EXAMPLES = int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "80"))


def nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    inner = '{"a":' * depth if opener == "{" else "[" * depth
    return (inner + "1" + closer * depth).encode()


def check(outcome: Outcome) -> None:
    assert len(outcome.metrics) <= MAX_METRICS
    assert all(len(name) <= MAX_NAME for name in outcome.metrics)
    assert outcome.reason is None or len(outcome.reason) <= MAX_REASON
    assert len(outcome.notes) <= MAX_NOTES + 1  # + the unknown-status note
    assert all(len(note) <= MAX_REASON for note in outcome.notes)
    assert outcome.ok or outcome.reason


@settings(max_examples=300)
@given(
    body=st.binary(max_size=2000),
    status=st.integers(100, 599),
    content_type=st.none() | st.sampled_from(["application/json", "text/plain"]),
)
def test_any_bytes_give_a_bounded_verdict(
    body: bytes, status: int, content_type: str | None
) -> None:
    check(classify(status, body, content_type))


@settings(max_examples=EXAMPLES, deadline=None)
@given(document=documents | wide, status_word=st.none() | scalars)
def test_any_json_document_gives_a_bounded_verdict(document: object, status_word: object) -> None:
    if isinstance(document, dict) and status_word is not None:
        document = {"status": status_word, **document}
    body = json.dumps(document).encode()
    outcome = classify(200, body, "application/json")
    check(outcome)
    numeric_status = isinstance(status_word, int | float) and not isinstance(status_word, bool)
    if isinstance(document, dict) and not numeric_status:
        # Only `wide` makes documents this big, all of non-negative integers
        # (plus, maybe, a "status" that is not a number: not a metric).
        count = sum(type(value) is int for value in document.values())
        if count > MAX_METRICS:
            assert outcome.reason and f"of {count} numeric fields" in outcome.reason
        else:
            assert "numeric fields" not in (outcome.reason or "")


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(1, 250_000),
    opener=st.sampled_from(["[", "{"]),
    unclosed=st.booleans(),
)
def test_any_nesting_depth_gives_a_verdict_not_a_recursion_error(
    depth: int, opener: str, unclosed: bool
) -> None:
    body = nested(depth, opener)
    if unclosed:
        body = body[: len(body) // 3]  # still `depth / 3` levels open
    outcome = classify(200, body, "application/json")
    check(outcome)
    if depth > 3 * MAX_DEPTH:
        assert not outcome.ok and outcome.reason and "nested too deeply" in outcome.reason


@given(depth=st.integers(0, 2 * MAX_DEPTH), pad=st.text(alphabet='[]{}"\\ab', max_size=50))
def test_brackets_inside_strings_do_not_count_as_nesting(depth: int, pad: str) -> None:
    body = nested(depth, "[") if depth else b"1"
    inside = json.dumps({"note": pad * 40 + "[" * 100, "v": json.loads(body)}).encode()
    assert too_deep(inside) == (depth + 1 > MAX_DEPTH)
