"""What a rerank returns: the reranked hits, the whole order, and every LLM call."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ...core.vocabulary import PreStage, RankedHit, Strategy

CallStatus = Literal["ok", "repaired", "re-asked", "fell back"]


class CallRecord(BaseModel):
    """One model call (an LLM's, or the rerank model's: `strategy="cross_encoder"`, no
    tokens counted): what it saw, what it cost, and how well its reply parsed."""

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
    """The reranked top-k plus the whole order and a record of every model call."""

    query: str
    strategy: Strategy
    pre: PreStage | None = None
    hits: list[RankedHit]
    order: list[str] = Field(description="Every input id, best first.")
    calls: list[CallRecord] = Field(default_factory=list)
    reranked: bool = True
    error: str | None = None
    seconds: float = 0.0

    @property
    def llm_calls(self) -> int:
        return sum(1 for c in self.calls if c.strategy != "cross_encoder")

    @property
    def rerank_api_calls(self) -> int:
        """Requests to the rerank model's /v1/rerank API (the cross_encoder stage)."""
        return len(self.calls) - self.llm_calls

    @property
    def round_trips(self) -> int:
        return max((c.round for c in self.calls), default=-1) + 1

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)
