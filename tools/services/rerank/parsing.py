"""Reading LLM replies: relevance grades (pointwise) and label orderings (listwise).

The listwise parser never fails: whatever the reply, the order it returns is a
permutation of the window, and the outcome says what had to be repaired.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

MAX_GRADE = 3
ParseStatus = Literal["ok", "repaired", "fell back"]

_BRACKETED = re.compile(r"\[\s*(\d{1,4})\s*\]")
_NUMBER = re.compile(r"(?<![\d.])(\d{1,4})(?![\d.])")
_DECIMAL = re.compile(r"(?<![\d.\-])(\d+(?:\.\d+)?)(?!\s*/\s*\d)")
_FRACTION = re.compile(r"(?<![\d.\-])(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_WORDS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"\b(not|non|ir)[\s-]?relevant\b|\bunrelated\b", re.I), 0),
    (re.compile(r"\b(perfectly|highly|very|fully)\s+relevant\b|\bexactly\b", re.I), 3),
    (re.compile(r"\b(somewhat|partially|marginally|slightly)\s+relevant\b", re.I), 1),
    (re.compile(r"\brelevant\b|\byes\b", re.I), 2),
    (re.compile(r"\bno\b", re.I), 0),
]


@dataclass
class PermutationOutcome:
    """A window's new order (0-based positions) and what the parser had to do."""

    order: list[int]
    status: ParseStatus
    missing: list[int] = field(default_factory=list)
    duplicates: int = 0
    unknown: int = 0
    detail: str = ""


def parse_permutation(reply: str, size: int) -> PermutationOutcome:
    """Labels [1]..[size] in the order the reply gives them, repaired into a permutation.

    Bracketed labels are read when present, bare numbers otherwise. Repeated labels keep
    their first place, labels out of range are dropped, and labels the reply left out
    follow in their previous order. A reply with no usable label keeps the input order.
    """
    numbers = _BRACKETED.findall(reply) or _NUMBER.findall(reply)
    seen: dict[int, None] = {}
    duplicates = unknown = 0
    for raw in numbers:
        label = int(raw)
        if not 1 <= label <= size:
            unknown += 1
        elif label - 1 in seen:
            duplicates += 1
        else:
            seen[label - 1] = None
    if not seen:
        return PermutationOutcome(list(range(size)), "fell back", list(range(size)), duplicates,
                                  unknown, "no passage label in the reply")
    missing = [i for i in range(size) if i not in seen]
    order = [*seen, *missing]
    repaired = bool(missing or duplicates or unknown)
    detail = ", ".join(part for part in (
        f"{len(missing)} missing" if missing else "",
        f"{duplicates} duplicate" if duplicates else "",
        f"{unknown} unknown" if unknown else "",
    ) if part)
    return PermutationOutcome(order, "repaired" if repaired else "ok", missing, duplicates,
                              unknown, detail)


def parse_grade(reply: str) -> float | None:
    """A relevance grade 0..3 from a reply: a number anywhere (not a negative one; "7/10"
    is scaled to 0..3), or words such as 'irrelevant'."""
    if fraction := _FRACTION.search(reply):
        value, scale = float(fraction.group(1)), float(fraction.group(2))
        if 0 < scale and 0 <= value <= scale:
            return MAX_GRADE * value / scale
    for match in _DECIMAL.finditer(reply):
        value = float(match.group(1))
        if 0 <= value <= MAX_GRADE:
            return value
    for pattern, grade in _WORDS:
        if pattern.search(reply):
            return float(grade)
    return None


def reason_of(reply: str) -> str | None:
    """The words after the grade in a reply such as 'Grade: 3 - it answers exactly.'"""
    for match in _DECIMAL.finditer(reply):
        if 0 <= float(match.group(1)) <= MAX_GRADE:
            reply = reply[match.end():]
            break
    return reply.lstrip(" \t\n-:;,.)").strip() or None


def first_label_probability(tokens: list[list[dict]]) -> float | None:
    """P(label 1) against label 2 at the first reply token that offers either digit
    (after "[" in "[1]"), renormalised over the two; None without log-probabilities."""
    for alternatives in tokens:
        weights = {"1": 0.0, "2": 0.0}
        for alternative in alternatives:
            token, logprob = str(alternative.get("token", "")).strip(), alternative.get("logprob")
            if token in weights and isinstance(logprob, (int, float)) and math.isfinite(logprob):
                weights[token] += math.exp(min(float(logprob), 0.0))
        total = weights["1"] + weights["2"]
        if total > 0:
            return weights["1"] / total
    return None


def expected_grade(top_logprobs: list[dict]) -> float | None:
    """The expected grade under the model's distribution over the first answer token.

    `top_logprobs` are Ollama's alternatives for that token ({"token", "logprob"}); the
    grade tokens among them are renormalised. Continuous, so it breaks integer ties.
    """
    weights: dict[int, float] = {}
    for alternative in top_logprobs:
        token = str(alternative.get("token", "")).strip()
        logprob = alternative.get("logprob")
        if (token.isdigit() and 0 <= int(token) <= MAX_GRADE
                and isinstance(logprob, (int, float)) and math.isfinite(logprob)):
            grade = int(token)  # a probability is at most 1: clamp absurd log-probabilities
            weights[grade] = weights.get(grade, 0.0) + math.exp(min(float(logprob), 0.0))
    total = sum(weights.values())
    if total <= 0:
        return None
    return sum(grade * weight for grade, weight in weights.items()) / total
