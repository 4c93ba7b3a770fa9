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
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from ...adapters import models
from ...core.aio import run_sync
from ...core.errors import (
    InvalidArgumentError,
    ModelRequestError,
    ModelUnavailableError,
)
from ...core.settings import Settings
from ...core.vocabulary import STRATEGIES, Hit, RankedHit, Strategy, choose, require_text
from .calls import ChatCaller
from .judging import Judge
from .prompts import RerankPrompts
from .records import RerankResult
from .strategies import MIN_CANDIDATES, STRATEGY_FUNCTIONS, Plan

log = logging.getLogger("rankwise.rerank")

OnFailure = Literal["raise", "fallback"]


class Reranker:
    """Reorders retrieved hits with a chat model and keeps the best `top_k`.

    `chat_model`: any LangChain chat model; by default the one `settings.chat_model`
    names (Ollama). `strategy`: "pointwise" (a grade per passage, calls in parallel),
    "listwise" (RankGPT sliding window), "tournament" (listwise windows ranked in
    parallel, level by level), "pairwise" (two passages at a time, both orders, the top
    K by tournament selection), or "none".
    `on_failure="fallback"` returns the retrieval order, flagged `reranked=False`, when
    the model stays unreachable or rejects the calls; the default raises. Arguments are
    checked here, before any call.
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
    ) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.strategy: Strategy = choose(strategy or s.rerank_strategy, STRATEGIES, "strategy")
        self.on_failure: OnFailure = choose(on_failure, ("raise", "fallback"), "on_failure")
        self.top_k = _at_least(1, "top_k", _given(top_k, s.rerank_top_k))
        self.window = _at_least(2, "window", _given(window, s.rerank_window))
        self.step = _at_least(1, "step", _given(step, s.rerank_step))
        self.concurrency = _at_least(1, "concurrency", _given(concurrency, s.rerank_concurrency))
        self.keep = _at_least(1, "keep", keep)
        if self.step > self.window:
            raise InvalidArgumentError(
                f"step ({self.step}) must not exceed window ({self.window}), or passages "
                "between windows are never compared")
        self.prompts = prompts or RerankPrompts()
        self.with_reasons = with_reasons
        self.chat_model = None if self.strategy == "none" else models.chat_model(s, chat_model)
        # Bounds the LLM calls in flight across every rerank this reranker runs at once.
        self._pool = ThreadPoolExecutor(self.concurrency, "rankwise-rerank")
        self._num_ctx: int | None = None
        self._context_lock = threading.Lock()

    async def arerank(self, query: str, hits: Sequence[Hit], top_k: int | None = None,
                      config: RunnableConfig | None = None) -> RerankResult:
        """Rerank `hits` for `query`; the result's `hits` are the best `top_k`."""
        require_text(query)
        top_k = _at_least(1, "top_k", top_k) if top_k is not None else self.top_k
        started = time.perf_counter()
        hits = list(hits)
        judge: Judge | None = None
        try:
            if self.chat_model is None or len(hits) < MIN_CANDIDATES.get(self.strategy, 2):
                order = list(range(len(hits)))
            else:
                caller = ChatCaller(self.chat_model, self._pool, num_ctx=await self._context(),
                                    passage_chars=self.settings.rerank_passage_chars,
                                    config=config)
                judge = Judge(caller, self.prompts, self.strategy, query, hits,
                              with_reasons=self.with_reasons)
                plan = Plan(window=self.window, step=self.step, keep=max(self.keep, top_k),
                            concurrency=self.concurrency, top_k=top_k)
                order = await STRATEGY_FUNCTIONS[self.strategy](judge, plan)
        except (ModelUnavailableError, ModelRequestError) as exc:
            if self.on_failure == "raise":
                raise
            log.warning("rerank fell back to retrieval order: %s", exc)
            return self._result(query, hits, list(range(len(hits))), judge, top_k, started,
                                error=str(exc))
        return self._result(query, hits, order, judge, top_k, started)

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
        return self._num_ctx

    def _load_context(self) -> None:
        with self._context_lock:
            if self._num_ctx is None:
                model_ctx = asyncio.run(self.chat_model.provider.context_window())
                configured = self.settings.chat_num_ctx
                self._num_ctx = min(configured, model_ctx) if model_ctx else configured

    def _result(self, query: str, hits: list[Hit], order: list[int], judge: Judge | None,
                keep: int, started: float, error: str | None = None) -> RerankResult:
        assert sorted(order) == list(range(len(hits))), "rerank order must be a permutation"
        scores = judge.scores if judge else {}
        reasons = judge.reasons if judge else {}
        ranked = [
            RankedHit(**hits[i].model_dump(), rank=rank, rerank_score=scores.get(i),
                      reason=reasons.get(i))
            for rank, i in enumerate(order[:keep], start=1)
        ]
        result = RerankResult(
            query=query, strategy=self.strategy, hits=ranked, order=[hits[i].id for i in order],
            calls=judge.calls if judge else [], reranked=error is None, error=error,
            seconds=time.perf_counter() - started,
        )
        log.info("rerank %s: %d hits, %d calls, %d round trips, %d+%d tokens, %.2f s%s",
                 self.strategy, len(hits), result.llm_calls, result.round_trips,
                 result.prompt_tokens, result.completion_tokens, result.seconds,
                 f", fell back: {error}" if error else "")
        return result



def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _at_least(minimum: int, name: str, value: int) -> int:
    if not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer of at least {minimum}, "
                                   f"got {value!r}")
    return value
