"""The LLM as a judge of passages: one grade (pointwise) or one window's order
(listwise) per call, each reply parsed and every call recorded. Strategies decide which
questions to ask (`strategies.py`); this module only asks them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from langchain_core.messages import AIMessage, HumanMessage

from ...core.vocabulary import Hit, fence
from .calls import ChatCaller, Reply
from .parsing import (
    expected_grade,
    first_label_probability,
    parse_grade,
    parse_permutation,
    reason_of,
)
from .prompts import GRADE_AND_REASON, GRADE_ONLY, RerankPrompts, quote_passages
from .records import CallRecord, CallStatus

log = logging.getLogger("rankwise.rerank")

_PROMPT_OVERHEAD_TOKENS = 250
_LABEL_TOKENS = 5


class Judge:
    """Judges `hits` for `query` through `caller`; keeps scores, reasons and call records.

    With `logprobs`, grades and pairwise preferences are read from the model's
    log-probabilities (continuous); without, from its answers alone."""

    def __init__(self, caller: ChatCaller, prompts: RerankPrompts, strategy: str,
                 query: str, hits: Sequence[Hit], *, with_reasons: bool = False,
                 logprobs: bool = False) -> None:
        self.caller, self.prompts, self.strategy = caller, prompts, strategy
        self.query, self.hits, self.with_reasons = query, hits, with_reasons
        self.logprobs = logprobs
        self.calls: list[CallRecord] = []
        self.scores: dict[int, float] = {}
        self.reasons: dict[int, str] = {}
        self.wins: dict[int, int] = {}  # pairwise: comparisons each position won

    def record(self, reply: Reply, round_: int, window: list[int], status: CallStatus,
               **details: object) -> None:
        call = CallRecord(strategy=self.strategy, round=round_, window=window,
                          latency=reply.latency, prompt_tokens=reply.prompt_tokens,
                          completion_tokens=reply.completion_tokens, status=status, **details)
        self.calls.append(call)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rerank call %s", call.model_dump())

    async def grade(self, position: int, round_: int) -> None:
        """Grade one passage 0-3 (continuous from the log-probabilities, when read)."""
        [passage] = self.caller.fit([self.hits[position].text], self.query,
                                    _PROMPT_OVERHEAD_TOKENS + 64)
        messages = self.prompts.pointwise.format_messages(
            query=self.query, passage=fence(passage),
            answer_format=GRADE_AND_REASON if self.with_reasons else GRADE_ONLY,
        )
        reply = await self.caller.chat(messages, max_tokens=64 if self.with_reasons else 4,
                                       logprobs=self.logprobs)
        grade = parse_grade(reply.text)
        continuous = (expected_grade(next(iter(reply.token_alternatives), []))
                      if self.logprobs else None)
        score = continuous if continuous is not None else grade
        if score is None:
            self.record(reply, round_, [position], "fell back",
                        detail=f"no grade in reply {reply.text[:80]!r}")
            return
        self.scores[position] = score
        if self.with_reasons and (reason := reason_of(reply.text)):
            self.reasons[position] = reason
        self.record(reply, round_, [position], "ok")

    async def prefer(self, first: int, second: int, round_: int) -> float | None:
        """How much the LLM prefers `first` to `second`, shown in that order: 1 or 0 from
        its answer, or the probability of label [1] when log-probabilities are read;
        None when its reply names neither."""
        passages = self.caller.fit([self.hits[i].text for i in (first, second)], self.query,
                                   _PROMPT_OVERHEAD_TOKENS + 16)
        messages = self.prompts.pairwise.format_messages(
            query=self.query, passages=quote_passages(passages),
        )
        reply = await self.caller.chat(messages, max_tokens=16, logprobs=self.logprobs)
        outcome = parse_permutation(reply.text, 2)
        if outcome.status == "fell back":
            self.record(reply, round_, [first, second], "fell back", detail=outcome.detail)
            return None
        self.record(reply, round_, [first, second], "ok")
        soft = first_label_probability(reply.token_alternatives) if self.logprobs else None
        return soft if soft is not None else float(outcome.order[0] == 0)

    async def compare(self, a: int, b: int, round_: int) -> int:
        """The better of positions `a` and `b`, asked in both orders so that a preference
        for the first (or second) place cancels out; a tie goes to the earlier position,
        the first stage's choice (pairwise ranking prompting, arXiv 2306.17563).

        With log-probabilities the two orders' probabilities add up, and a bias for a
        place shifts both alike: it cancels instead of making a tie."""
        a_first, b_first = await asyncio.gather(self.prefer(a, b, round_),
                                                self.prefer(b, a, round_))
        for_a = (a_first if a_first is not None else 0.5) + (
            1 - b_first if b_first is not None else 0.5)
        winner = min(a, b) if abs(for_a - 1) < 1e-9 else a if for_a > 1 else b
        self.wins[winner] = self.wins.get(winner, 0) + 1
        return winner

    async def rank_window(self, window: list[int], round_: int) -> tuple[list[int], int]:
        """The window reordered by the LLM, and the round after its last call. Missing
        labels are asked for once more; the result is always a permutation."""
        if len(window) < 2:
            return window, round_
        size = len(window)
        max_tokens = size * _LABEL_TOKENS + 20
        passages = self.caller.fit([self.hits[i].text for i in window], self.query,
                                   _PROMPT_OVERHEAD_TOKENS + max_tokens)
        messages = self.prompts.listwise.format_messages(
            query=self.query, count=size, passages=quote_passages(passages),
        )
        reply = await self.caller.chat(messages, max_tokens=max_tokens)
        outcome = parse_permutation(reply.text, size)
        details = {"missing": len(outcome.missing), "duplicates": outcome.duplicates,
                   "unknown": outcome.unknown, "detail": outcome.detail}
        if outcome.status != "repaired" or not outcome.missing:
            self.record(reply, round_, window, outcome.status, **details)
            return [window[i] for i in outcome.order], round_ + 1
        self.record(reply, round_, window, "repaired", **details)
        missing = ", ".join(f"[{i + 1}]" for i in outcome.missing)
        again = await self.caller.chat(
            [*messages, AIMessage(reply.text),
             HumanMessage(self.prompts.reask.format(missing=missing, count=size))],
            max_tokens=max_tokens,
        )
        second = parse_permutation(again.text, size)
        if second.status == "fell back" or len(second.missing) >= len(outcome.missing):
            second = outcome
        self.record(again, round_ + 1, window, "re-asked", missing=len(second.missing),
                    duplicates=second.duplicates, unknown=second.unknown,
                    detail=second.detail or "complete after re-ask")
        return [window[i] for i in second.order], round_ + 2
