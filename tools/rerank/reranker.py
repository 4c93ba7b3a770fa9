"""LLM reranking of retrieved hits: pointwise grades, listwise sliding windows, and a
listwise tournament of windows ranked in parallel (fewer sequential round trips).

Every strategy returns a permutation of its input: nothing dropped, nothing repeated.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from itertools import zip_longest
from typing import Literal

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from ..aio import run_sync
from ..errors import (
    EmptyQueryError,
    ModelNotFoundError,
    OllamaRequestError,
    OllamaUnavailableError,
)
from ..hits import Hit
from ..settings import Settings
from .llm import ChatCaller, Reply, context_length, truncate
from .parsing import expected_grade, parse_grade, parse_permutation, reason_of
from .prompts import GRADE_AND_REASON, GRADE_ONLY, RerankPrompts, quote_passages

log = logging.getLogger("rankwise.rerank")

Strategy = Literal["pointwise", "listwise", "tournament", "none"]
CallStatus = Literal["ok", "repaired", "re-asked", "fell back"]

_PROMPT_OVERHEAD_TOKENS = 250
_LABEL_TOKENS = 5


class RankedHit(Hit):
    """A hit after reranking: its new rank, the LLM's score where it gives one, a reason."""

    rank: int
    rerank_score: float | None = None
    reason: str | None = None


class CallRecord(BaseModel):
    """One LLM call: what it saw, what it cost, and how well its reply parsed."""

    strategy: str
    round: int = Field(description="Sequential round trip the call belonged to (from 0).")
    window: list[int] = Field(description="Input positions of the passages in the prompt.")
    latency: float
    prompt_tokens: int
    completion_tokens: int
    status: CallStatus
    missing: int = 0
    duplicates: int = 0
    unknown: int = 0
    detail: str = ""


class RerankResult(BaseModel):
    """The reranked top-k plus the whole order and a record of every LLM call."""

    query: str
    strategy: Strategy
    hits: list[RankedHit]
    order: list[str] = Field(description="Every input id, best first.")
    calls: list[CallRecord] = Field(default_factory=list)
    reranked: bool = True
    error: str | None = None
    seconds: float = 0.0

    @property
    def llm_calls(self) -> int:
        return len(self.calls)

    @property
    def round_trips(self) -> int:
        return max((c.round for c in self.calls), default=-1) + 1

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)


class _Run:
    """The state of one rerank: the caller, the calls made, scores and reasons."""

    def __init__(self, reranker: Reranker, caller: ChatCaller, query: str,
                 hits: Sequence[Hit]) -> None:
        self.reranker, self.caller, self.query, self.hits = reranker, caller, query, hits
        self.calls: list[CallRecord] = []
        self.scores: dict[int, float] = {}
        self.reasons: dict[int, str] = {}

    def record(self, reply: Reply, round_: int, window: list[int], status: CallStatus,
               **details: object) -> None:
        call = CallRecord(strategy=self.reranker.strategy, round=round_, window=window,
                          latency=reply.latency, prompt_tokens=reply.prompt_tokens,
                          completion_tokens=reply.completion_tokens, status=status,
                          **details)
        self.calls.append(call)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rerank call %s", call.model_dump())

    # ---- pointwise ----------------------------------------------------------------
    async def grade(self, position: int, round_: int) -> None:
        reranker = self.reranker
        limit = self.caller.passage_chars(1, _PROMPT_OVERHEAD_TOKENS + 64)
        messages = reranker.prompts.pointwise.format_messages(
            query=self.query, passage=truncate(self.hits[position].text, limit),
            answer_format=GRADE_AND_REASON if reranker.with_reasons else GRADE_ONLY,
        )
        reply = await self.caller.chat(messages, max_tokens=64 if reranker.with_reasons else 4,
                                       logprobs=True)
        grade = parse_grade(reply.text)
        continuous = expected_grade(reply.first_token_alternatives or [])
        score = continuous if continuous is not None else grade
        if score is None:
            self.record(reply, round_, [position], "fell back",
                        detail=f"no grade in reply {reply.text[:80]!r}")
            return
        self.scores[position] = score
        if reranker.with_reasons and (reason := reason_of(reply.text)):
            self.reasons[position] = reason
        self.record(reply, round_, [position], "ok")

    async def pointwise(self) -> list[int]:
        concurrency = self.reranker.concurrency
        await asyncio.gather(*(self.grade(i, i // concurrency) for i in range(len(self.hits))))
        return sorted(range(len(self.hits)),
                      key=lambda i: (-self.scores.get(i, -1.0), -self.hits[i].score, i))

    # ---- listwise -----------------------------------------------------------------
    async def rank_window(self, window: list[int], round_: int) -> tuple[list[int], int]:
        """The window reordered by the LLM, and the round after its last call."""
        if len(window) < 2:
            return window, round_
        prompts, size = self.reranker.prompts, len(window)
        max_tokens = size * _LABEL_TOKENS + 20
        limit = self.caller.passage_chars(size, _PROMPT_OVERHEAD_TOKENS + max_tokens)
        messages = prompts.listwise.format_messages(
            query=self.query, count=size,
            passages=quote_passages([truncate(self.hits[i].text, limit) for i in window]),
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
             HumanMessage(prompts.reask.format(missing=missing, count=size))],
            max_tokens=max_tokens,
        )
        second = parse_permutation(again.text, size)
        if second.status == "fell back" or len(second.missing) >= len(outcome.missing):
            second = outcome
        self.record(again, round_ + 1, window, "re-asked", missing=len(second.missing),
                    duplicates=second.duplicates, unknown=second.unknown,
                    detail=second.detail or "complete after re-ask")
        return [window[i] for i in second.order], round_ + 2

    async def sliding(self, order: list[int]) -> list[int]:
        """RankGPT's sliding window, from the bottom of the list to the top."""
        window, step = self.reranker.window, self.reranker.step
        end, round_ = len(order), 0
        while True:
            start = max(0, end - window)
            order[start:end], round_ = await self.rank_window(order[start:end], round_)
            if start == 0:
                return order
            end -= step

    async def tournament(self, order: list[int], keep: int) -> list[int]:
        """Rank balanced windows in parallel and keep each window's best `keep`, level by
        level, until one window holds the survivors; rank that one last.

        Survivors are dealt round-robin into the next level's windows, so every window
        mixes strong passages from different windows. 100 passages in windows of 20,
        keeping 8: 100 -> 40 -> 16 -> final, three sequential round trips (a sliding
        window needs nine). Passages knocked out later rank above those knocked out earlier.
        """
        window, round_ = self.reranker.window, 0
        knocked_out: list[list[int]] = []
        while len(order) > window:
            count = math.ceil(len(order) / window)
            windows = [order[i::count] for i in range(count)]
            ranked = await asyncio.gather(*(self.rank_window(w, round_) for w in windows))
            round_ = max(r for _, r in ranked)
            kept = min(keep, window // 2)  # at most half: every level shrinks
            order = _interleave([ranked_window[:kept] for ranked_window, _ in ranked])
            knocked_out.append(_interleave([ranked_window[kept:] for ranked_window, _ in ranked]))
        final, _ = await self.rank_window(order, round_)
        return [*final, *(i for level in reversed(knocked_out) for i in level)]


def _interleave(lists: list[list[int]]) -> list[int]:
    """Round-robin merge: the first of each list, then the second of each, ..."""
    return [item for row in zip_longest(*lists) for item in row if item is not None]


class Reranker:
    """Reorders retrieved hits with an Ollama chat model and keeps the best `top_k`.

    `strategy`: "pointwise" (a grade per passage, calls in parallel), "listwise" (RankGPT
    sliding window), "tournament" (listwise windows ranked in parallel, level by level),
    or "none".
    `on_failure="fallback"` returns the retrieval order, flagged `reranked=False`, when
    Ollama stays unreachable; the default raises.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        strategy: Strategy | None = None,
        top_k: int | None = None,
        window: int | None = None,
        step: int | None = None,
        concurrency: int | None = None,
        keep: int = 8,
        prompts: RerankPrompts | None = None,
        with_reasons: bool = False,
        on_failure: Literal["raise", "fallback"] = "raise",
    ) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.strategy: Strategy = strategy or s.rerank_strategy
        self.top_k = top_k or s.rerank_top_k
        self.window = window or s.rerank_window
        self.step = step or s.rerank_step
        self.concurrency = concurrency or s.rerank_concurrency
        self.keep = keep
        self.prompts = prompts or RerankPrompts()
        self.with_reasons = with_reasons
        self.on_failure = on_failure
        if self.step > self.window:
            raise ValueError(f"step ({self.step}) must not exceed window ({self.window})")
        self._num_ctx: int | None = None

    async def arerank(self, query: str, hits: Sequence[Hit], top_k: int | None = None,
                      config: RunnableConfig | None = None) -> RerankResult:
        """Rerank `hits` for `query`; the result's `hits` are the best `top_k`."""
        if not query or not query.strip():
            raise EmptyQueryError("the query is empty: pass the question the hits answer")
        started = time.perf_counter()
        hits = list(hits)
        run: _Run | None = None
        try:
            ordering_needs_two = self.strategy != "pointwise" and len(hits) < 2
            if self.strategy == "none" or not hits or ordering_needs_two:
                order = list(range(len(hits)))
            else:
                if self._num_ctx is None:
                    self._num_ctx = await context_length(self.settings)
                caller = ChatCaller(self.settings, self._num_ctx, self.concurrency, config)
                run = _Run(self, caller, query, hits)
                order = await self._order(run, top_k or self.top_k)
        except (OllamaUnavailableError, OllamaRequestError) as exc:
            if self.on_failure == "raise" or isinstance(exc, ModelNotFoundError):
                raise
            log.warning("rerank fell back to retrieval order: %s", exc)
            return self._result(query, hits, list(range(len(hits))), run, top_k, started,
                                error=str(exc))
        return self._result(query, hits, order, run, top_k, started)

    def rerank(self, query: str, hits: Sequence[Hit], top_k: int | None = None,
               config: RunnableConfig | None = None) -> RerankResult:
        """Blocking `arerank`; works inside a running event loop too (e.g. a notebook)."""
        return run_sync(self.arerank(query, hits, top_k, config))

    async def _order(self, run: _Run, top_k: int) -> list[int]:
        positions = list(range(len(run.hits)))
        if self.strategy == "pointwise":
            return await run.pointwise()
        if self.strategy == "listwise":
            return await run.sliding(positions)
        return await run.tournament(positions, max(self.keep, top_k))

    def _result(self, query: str, hits: list[Hit], order: list[int], run: _Run | None,
                top_k: int | None, started: float, error: str | None = None) -> RerankResult:
        assert sorted(order) == list(range(len(hits))), "rerank order must be a permutation"
        keep = top_k or self.top_k
        scores = run.scores if run else {}
        reasons = run.reasons if run else {}
        ranked = [
            RankedHit(**hits[i].model_dump(), rank=rank, rerank_score=scores.get(i),
                      reason=reasons.get(i))
            for rank, i in enumerate(order[:keep], start=1)
        ]
        result = RerankResult(
            query=query, strategy=self.strategy, hits=ranked, order=[hits[i].id for i in order],
            calls=run.calls if run else [], reranked=error is None, error=error,
            seconds=time.perf_counter() - started,
        )
        log.info("rerank %s: %d hits, %d calls, %d round trips, %d+%d tokens, %.2f s%s",
                 self.strategy, len(hits), result.llm_calls, result.round_trips,
                 result.prompt_tokens, result.completion_tokens, result.seconds,
                 f", fell back: {error}" if error else "")
        return result

