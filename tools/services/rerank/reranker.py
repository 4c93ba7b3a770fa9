"""LLM reranking of retrieved hits: the `Reranker` runs a strategy (`strategies.py`)
with a judge (`judging.py`) over any chat model, and returns a `RerankResult`.

Every strategy returns a permutation of its input: nothing dropped, nothing repeated.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from ...adapters import models
from ...adapters.models.guarded import GuardedChatModel
from ...adapters.models.rerank_api import RerankAPI
from ...core.aio import run_sync
from ...core.errors import (
    InvalidArgumentError,
    ModelRequestError,
    ModelUnavailableError,
)
from ...core.settings import Settings
from ...core.vocabulary import (
    LLM_STRATEGIES,
    STRATEGIES,
    Hit,
    PreStage,
    RankedHit,
    Strategy,
    check_window,
    choose,
    require_text,
)
from .calls import ChatCaller
from .cross_encoder import cross_encode
from .judging import Judge
from .prompts import RerankPrompts
from .records import CallRecord, RerankResult
from .strategies import MIN_CANDIDATES, STRATEGY_FUNCTIONS, Plan

if TYPE_CHECKING:
    from .compressor import RerankCompressor

log = logging.getLogger("rankwise.rerank")
T = TypeVar("T")

OnFailure = Literal["raise", "fallback"]


class Reranker:
    """Reorders retrieved hits with a chat model and keeps the best `top_k`.

    `chat_model`: any LangChain chat model; by default the one `settings.chat_model`
    names (Ollama). `strategy`: "pointwise" (a grade per passage, calls in parallel),
    "listwise" (RankGPT sliding window), "tournament" (listwise windows ranked in
    parallel, level by level), "pairwise" (two passages at a time, both orders, the top
    K by tournament selection), "cross_encoder" (a dedicated rerank model over the
    `/v1/rerank` API at `settings.rerank_url`, no LLM), or "none".
    `pre="cross_encoder"` runs that rerank model first, over every candidate, and the
    LLM strategy only over its best `pre_k`: a cheap cut before an expensive judge.
    `keep` is how many passages each tournament window passes on to the next level.
    `logprobs` (default `settings.rerank_logprobs`, off) orders pointwise grades and
    pairwise preferences by the model's log-probabilities instead of its answers alone.
    `on_failure="fallback"` returns the best order reached (the rerank model's, or the
    retrieval order), with `error` set, when a model stays unreachable or rejects the
    calls; the default raises. Arguments are checked here, before any call.
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
        on_failure: OnFailure = "raise",
        chat_model: BaseChatModel | None = None,
        pre: PreStage | None = None,
        pre_k: int | None = None,
        logprobs: bool | None = None,
    ) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.strategy: Strategy = choose(strategy or s.rerank_strategy, STRATEGIES, "strategy")
        llm = self.strategy in LLM_STRATEGIES
        # the configured pre-stage goes before LLM strategies; asking for one elsewhere is
        # a mistake
        self.pre: PreStage | None = (choose(pre, get_args(PreStage), "pre") if pre
                                     else s.rerank_pre if llm else None)
        if self.pre and not llm:
            raise InvalidArgumentError(f"pre={pre!r} runs before an LLM strategy, not before "
                                       f"{self.strategy!r}: use strategy='listwise' (or "
                                       "another LLM strategy), or drop pre")
        self.on_failure: OnFailure = choose(on_failure, ("raise", "fallback"), "on_failure")
        self.top_k = _at_least(1, "top_k", _given(top_k, s.rerank_top_k))
        self.window = _at_least(2, "window", _given(window, s.rerank_window))
        self.step = _at_least(1, "step", _given(step, s.rerank_step))
        self.concurrency = _at_least(1, "concurrency", _given(concurrency, s.rerank_concurrency))
        self.keep = _at_least(1, "keep", keep)
        self.pre_k = _at_least(2, "pre_k", _given(pre_k, s.rerank_pre_k))
        check_window(self.step, self.window)
        self.prompts = prompts or RerankPrompts()
        self.with_reasons = with_reasons
        self.logprobs = _given(logprobs, s.rerank_logprobs)
        self.chat_model = models.chat_model(s, chat_model) if llm else None
        self.rerank_api = (rerank_api(s, self.concurrency)
                           if "cross_encoder" in (self.strategy, self.pre) else None)
        # Bounds the LLM calls in flight across every rerank this reranker runs at once.
        self._pool = ThreadPoolExecutor(self.concurrency, "rankwise-rerank")
        self._num_ctx: int | None = None
        self._context_lock = threading.Lock()
        self._replies = _ReplyHealth(self.strategy)

    async def arerank(self, query: str, hits: Sequence[Hit], top_k: int | None = None,
                      config: RunnableConfig | None = None) -> RerankResult:
        """Rerank `hits` for `query`; the result's `hits` are the best `top_k`."""
        require_text(query)
        top_k = _at_least(1, "top_k", top_k) if top_k is not None else self.top_k
        started = time.perf_counter()
        hits = list(hits)
        judged = Judged(list(range(len(hits))))
        try:
            if self.rerank_api is not None and len(hits) >= 2:
                cross = await cross_encode(self.rerank_api, query, hits,
                                           self.settings.rerank_passage_chars)
                judged = Judged(cross.order, cross_scores=cross.scores, calls=cross.calls)
            if self.chat_model is not None:
                head = judged.order[:self.pre_k if self.pre else None]  # a copy
                if len(head) >= MIN_CANDIDATES.get(self.strategy, 2):
                    await self._judge(self.chat_model, query, hits, head, top_k, config,
                                      judged)
        except (ModelUnavailableError, ModelRequestError) as exc:
            if self.on_failure == "raise":
                raise
            log.warning("rerank fell back to %s order: %s",
                        "the rerank model's" if judged.cross_scores else "retrieval", exc)
            return self._result(query, hits, judged, top_k, started, error=str(exc))
        return self._result(query, hits, judged, top_k, started)

    async def _judge(self, model: GuardedChatModel, query: str, hits: list[Hit],
                     head: list[int], top_k: int, config: RunnableConfig | None,
                     judged: Judged) -> None:
        """The LLM strategy over the candidates at positions `head` (all of them, or the
        rerank model's best): their new order, grades, reasons and calls go to `judged`."""
        caller = ChatCaller(model, self._pool, num_ctx=await self._context(),
                            passage_chars=self.settings.rerank_passage_chars, config=config)
        judge = Judge(caller, self.prompts, self.strategy, query, [hits[i] for i in head],
                      with_reasons=self.with_reasons, logprobs=self.logprobs)
        plan = Plan(window=self.window, step=self.step, keep=max(self.keep, top_k),
                    concurrency=self.concurrency, top_k=top_k)
        try:
            order = await STRATEGY_FUNCTIONS[self.strategy](judge, plan)
        finally:  # calls made before a failure are still recorded
            offset = max((c.round for c in judged.calls), default=-1) + 1
            judged.calls.extend(c.model_copy(update={"round": c.round + offset})
                                for c in judge.calls)
        judged.order[:len(head)] = [head[j] for j in order]
        judged.scores = {head[j]: score for j, score in judge.scores.items()}
        judged.reasons = {head[j]: reason for j, reason in judge.reasons.items()}
        judged.wins = {head[j]: wins for j, wins in judge.wins.items()}

    def rerank(self, query: str, hits: Sequence[Hit], top_k: int | None = None,
               config: RunnableConfig | None = None) -> RerankResult:
        """Blocking `arerank`; works inside a running event loop too (e.g. a notebook)."""
        return run_sync(self.arerank(query, hits, top_k, config))

    async def _context(self) -> int:
        """Tokens a prompt may use: `chat_num_ctx`, capped by the model's own context
        when its server tells it (Ollama's `/api/show`, also the fail-fast check). Asked
        once per reranker, however many reranks start at once."""
        if self._num_ctx is None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._load_context)
        assert self._num_ctx is not None
        return self._num_ctx

    def _load_context(self) -> None:
        assert self.chat_model is not None, "only LLM strategies ask for a context"
        with self._context_lock:
            if self._num_ctx is None:
                model_ctx = asyncio.run(self.chat_model.provider.context_window())
                configured = self.settings.chat_num_ctx
                self._num_ctx = min(configured, model_ctx) if model_ctx else configured

    def _result(self, query: str, hits: list[Hit], judged: Judged, keep: int,
                started: float, error: str | None = None) -> RerankResult:
        order = judged.order
        assert sorted(order) == list(range(len(hits))), "rerank order must be a permutation"
        ranked = [
            RankedHit(**hits[i].model_dump(), rank=rank, rerank_score=judged.scores.get(i),
                      cross_score=judged.cross_scores.get(i), reason=judged.reasons.get(i))
            for rank, i in enumerate(order[:keep], start=1)
        ]
        result = RerankResult(
            query=query, strategy=self.strategy, pre=self.pre, hits=ranked,
            order=[hits[i].id for i in order], retrieved=[hit.id for hit in hits],
            scores={hits[i].id: s for i, s in judged.scores.items()},
            cross_scores={hits[i].id: s for i, s in judged.cross_scores.items()},
            wins={hits[i].id: n for i, n in judged.wins.items()},
            calls=judged.calls, reranked=error is None, error=error,
            seconds=time.perf_counter() - started, candidates=hits,
        )
        log.info("rerank %s: %d hits, %d calls, %d round trips, %d+%d tokens, %.2f s%s",
                 self.strategy, len(hits), result.llm_calls, result.round_trips,
                 result.prompt_tokens, result.completion_tokens, result.seconds,
                 f", fell back: {error}" if error else "")
        self._replies.count(result)
        return result

    def as_compressor(self, top_k: int | None = None) -> RerankCompressor:
        """This reranker as LangChain's `BaseDocumentCompressor`, for
        `ContextualCompressionRetriever` over any retriever."""
        from .compressor import RerankCompressor

        return RerankCompressor(reranker=self, top_k=top_k)


@dataclass
class Judged:
    """Where a rerank stands: the order so far, and each stage's scores and calls."""

    order: list[int]
    scores: dict[int, float] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)
    cross_scores: dict[int, float] = field(default_factory=dict)
    wins: dict[int, int] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)


class _ReplyHealth:
    """Watches a reranker's model and warns once of each of two signs that it cannot
    judge these passages: many replies it could not read (those passages keep their
    retrieval order), and its first reranks all answered yet none moved a passage (a small
    model that grades every passage alike, or always picks the first of a pair)."""

    MIN_CALLS, LIMIT, MIN_RERANKS = 20, 0.1, 5

    def __init__(self, strategy: str) -> None:
        self.strategy, self.calls, self.unreadable = strategy, 0, 0
        self.answered, self.moved = 0, False  # reranks whose every reply was read; any moved
        self.warned: set[str] = set()
        self._lock = threading.Lock()

    def count(self, result: RerankResult) -> None:
        with self._lock:
            self.calls += result.llm_calls
            self.unreadable += result.unreadable_replies
            if result.llm_calls and not result.unreadable_replies:
                self.answered += 1
                self.moved = self.moved or result.order != result.retrieved
            warn = [sign for sign, due in (
                ("unreadable", self.calls >= self.MIN_CALLS
                 and self.unreadable > self.LIMIT * self.calls),
                ("unmoved", self.answered >= self.MIN_RERANKS and not self.moved))
                if due and sign not in self.warned]
            self.warned.update(warn)
        advice = ("use a larger chat model or another strategy (rankwise eval shows which "
                  "ranks better)")
        if "unreadable" in warn:
            log.warning("%s rerank: %d of %d model replies held no usable grade or label, "
                        "so those passages kept their retrieval order; %s",
                        self.strategy, self.unreadable, self.calls, advice)
        if "unmoved" in warn:
            log.warning("%s rerank: the model answered every call of its first %d reranks "
                        "and moved no passage: it may not tell these passages apart; %s",
                        self.strategy, self.answered, advice)


def rerank_api(settings: Settings, concurrency: int) -> RerankAPI:
    """The rerank model's API client the settings name."""
    if not settings.rerank_url:
        raise InvalidArgumentError(
            "the cross_encoder stage needs a rerank server: set RANKWISE_RERANK_URL (and "
            "RANKWISE_RERANK_MODEL), e.g. TEI serving BAAI/bge-reranker-v2-m3 at "
            "http://localhost:8080")
    key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
    return RerankAPI(settings.rerank_url, settings.rerank_model, api_key=key,
                     timeout=settings.request_timeout, attempts=settings.retry_attempts,
                     batch_size=settings.rerank_batch_size, concurrency=concurrency)


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


def _at_least(minimum: int, name: str, value: int) -> int:
    if not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer of at least {minimum}, "
                                   f"got {value!r}")
    return value
