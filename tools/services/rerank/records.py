"""What a rerank returns: the reranked hits, the whole order, and every LLM call."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ...core.vocabulary import Hit, PreStage, RankedHit, Strategy

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
    retrieved: list[str] = Field(default_factory=list,
                                 description="Every input id, in the order given.")
    scores: dict[str, float] = Field(default_factory=dict,
                                     description="The LLM's grade of each graded input id.")
    cross_scores: dict[str, float] = Field(
        default_factory=dict, description="The rerank model's score of each input id.")
    wins: dict[str, int] = Field(default_factory=dict,
                                 description="Pairwise comparisons each input id won.")
    calls: list[CallRecord] = Field(default_factory=list)
    reranked: bool = True
    error: str | None = None
    seconds: float = 0.0
    candidates: list[Hit] = Field(default_factory=list, exclude=True, repr=False,
                                  description="The input hits (kept out of dumps).")

    def __repr__(self) -> str:
        stages = f"{self.pre} > {self.strategy}" if self.pre else self.strategy
        fell = f", fell back: {self.error}" if self.error else ""
        return (f"RerankResult({stages}: {len(self.order)} -> {len(self.hits)} kept, "
                f"{self.llm_calls} LLM calls, {self.round_trips} round trips, "
                f"{self.prompt_tokens}+{self.completion_tokens} tokens, "
                f"{self.seconds:.2f} s{fell})")

    def picture(self) -> str:
        """How the rerank moved the candidates, as SVG: each one's place before and
        after, the kept top-K marked, grades or wins, and the calls it cost."""
        from .picture import rerank_svg

        return rerank_svg(self)

    def save_picture(self, path: str | Path) -> Path:
        """Write `picture()` to `path` (an .svg file); returns the path."""
        target = Path(path)
        target.write_text(self.picture(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        from ...core.display import hits_table

        return (f"<div>{self.picture()}</div>"
                + hits_table(self.hits, caption=f"kept {len(self.hits)} of {len(self.order)}"))

    @property
    def llm_calls(self) -> int:
        return sum(1 for c in self.calls if c.strategy != "cross_encoder")

    @property
    def unreadable_replies(self) -> int:
        """LLM calls whose reply held no usable grade or label (the passages they judged
        kept their earlier place)."""
        return sum(1 for c in self.calls if c.strategy != "cross_encoder"
                   and c.status == "fell back")

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
