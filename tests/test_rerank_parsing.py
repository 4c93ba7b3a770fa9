"""The reply parsers: hand-written cases, and thousands of malformed replies (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rankwise.tools.services.rerank.parsing import expected_grade, parse_grade, parse_permutation


@pytest.mark.parametrize("reply, size, order, status", [
    ("[2] > [1] > [3]", 3, [1, 0, 2], "ok"),
    ("Sure! The ranking is: [3] > [2] > [1]. Hope this helps.", 3, [2, 1, 0], "ok"),
    ("2 > 3 > 1", 3, [1, 2, 0], "ok"),
    ("[2] > [2] > [1] > [3]", 3, [1, 0, 2], "repaired"),
    ("[9] > [2] > [0] > [1] > [3]", 3, [1, 0, 2], "repaired"),
    ("[3]", 3, [2, 0, 1], "repaired"),
    ("none of these", 3, [0, 1, 2], "fell back"),
    ("", 2, [0, 1], "fell back"),
    ("[ 2 ]>[1]", 2, [1, 0], "ok"),
])
def test_listwise_replies(reply, size, order, status):
    outcome = parse_permutation(reply, size)
    assert outcome.order == order and outcome.status == status


def test_repair_counts_what_was_wrong():
    outcome = parse_permutation("[2] > [2] > [7] > [1]", 4)
    assert (outcome.missing, outcome.duplicates, outcome.unknown) == ([2, 3], 1, 1)
    assert outcome.detail == "2 missing, 1 duplicate, 1 unknown"


@settings(max_examples=2000, deadline=None)
@given(reply=st.text(), size=st.integers(min_value=1, max_value=120))
def test_any_text_gives_a_permutation(reply, size):
    assert sorted(parse_permutation(reply, size).order) == list(range(size))


labels = st.lists(st.integers(min_value=-5, max_value=130), max_size=150)
separators = st.sampled_from([" > ", ">", ", ", " ", "\n", " then ", "] > ["])


@settings(max_examples=2000, deadline=None)
@given(numbers=labels, size=st.integers(min_value=1, max_value=100), sep=separators,
       bracket=st.booleans(), prose=st.text(max_size=30))
def test_malformed_label_lists_give_a_permutation(numbers, size, sep, bracket, prose):
    body = sep.join(f"[{n}]" if bracket else str(n) for n in numbers)
    outcome = parse_permutation(prose + body + prose, size)
    assert sorted(outcome.order) == list(range(size))
    assert len(outcome.order) == size


@settings(max_examples=500, deadline=None)
@given(permutation=st.permutations(list(range(1, 21))))
def test_a_clean_permutation_is_read_exactly(permutation):
    outcome = parse_permutation(" > ".join(f"[{n}]" for n in permutation), 20)
    assert outcome.status == "ok"
    assert outcome.order == [n - 1 for n in permutation]


@pytest.mark.parametrize("reply, grade", [
    ("3", 3.0), ("Grade: 2", 2.0), ("I would give it a 1.", 1.0), ("2.5", 2.5),
    ("This passage is irrelevant.", 0.0), ("Not relevant at all", 0.0),
    ("Highly relevant", 3.0), ("somewhat relevant", 1.0), ("Yes", 2.0), ("No.", 0.0),
    ("Relevant.", 2.0), ("The year 1990 matters; grade 2", 2.0), ("banana", None),
])
def test_grades_are_read_from_prose(reply, grade):
    assert parse_grade(reply) == grade


def test_expected_grade_weights_grade_tokens_only():
    alternatives = [{"token": "3", "logprob": math.log(0.5)},
                    {"token": "2", "logprob": math.log(0.25)},
                    {"token": "The", "logprob": math.log(0.25)}]
    assert expected_grade(alternatives) == pytest.approx((3 * 0.5 + 2 * 0.25) / 0.75)
    assert expected_grade([{"token": "maybe", "logprob": -0.1}]) is None
