"""A rankwise knowledge base as CrewAI Knowledge: `Crew(knowledge_sources=...)` and
`Agent(knowledge_sources=...)` search it, by CrewAI's own contract (`BaseKnowledgeStorage`,
`BaseKnowledgeSource`, `set_knowledge_storage_factory`).

    use_knowledge_base(kb)                                   # once, at start-up
    crew = Crew(agents=..., tasks=..., knowledge_sources=[KnowledgeBaseSource(kb, paths=["docs"])])

No embedder configuration, no OpenAI key, no chroma: the knowledge base embeds with its own
model. A source's files are ingested on each kickoff, as CrewAI adds sources every time, and
an unchanged file costs nothing; the passages reach the prompt fenced, with source and id.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crewai.knowledge.source.base_knowledge_source import BaseKnowledgeSource
from crewai.knowledge.storage.base_knowledge_storage import BaseKnowledgeStorage
from crewai.knowledge.storage.factory import set_knowledge_storage_factory
from pydantic import ConfigDict, Field
from rankwise.tools import InvalidArgumentError, KnowledgeBase, Reranker
from rankwise.tools.core.vocabulary import MAX_RERANK_N, Hit, SearchMode, format_hits

if TYPE_CHECKING:
    from crewai.rag.types import SearchResult

SAVED_PREFIX = "crewai:"  # the source of texts CrewAI saves: this plus the text's digest


class KnowledgeBaseStorage(BaseKnowledgeStorage):
    """CrewAI knowledge storage over a rankwise `KnowledgeBase`.

    `search` returns the best `limit` passages (reranked when a `reranker` is given),
    each fenced as data with its source and id. CrewAI's `score_threshold` defaults (0.6
    for agents, 0.35 for crews) were set for its own embedder and distances; rankwise
    keeps the top passages whatever their score unless `use_score_threshold`, which
    compares it with each passage's cosine similarity.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge_base: KnowledgeBase
    mode: SearchMode | None = None
    """hybrid, dense or lexical (default: the knowledge base's `search_mode` setting)."""
    reranker: Reranker | None = None
    """Reranks `top_n` candidates before the best `limit` are kept."""
    top_n: int = Field(20, ge=1, le=MAX_RERANK_N)
    use_score_threshold: bool = False

    def search(self, query: list[str], limit: int = 5,
               metadata_filter: dict[str, Any] | None = None,
               score_threshold: float = 0.6) -> list[SearchResult]:
        text = " ".join(q for q in query if q.strip())
        hits: list[Hit] = self.knowledge_base.search(
            text, self.top_n if self.reranker else limit, metadata_filter, mode=self.mode)
        if self.reranker is not None:
            hits = list(self.reranker.rerank(text, hits, limit).hits)
        if self.use_score_threshold:
            # CrewAI's 0-1 similarity scale: cosine; a hit only BM25 found has none
            hits = [hit for hit in hits if (hit.cosine or 0.0) >= score_threshold]
        return [self._result(n, hit) for n, hit in enumerate(hits[:limit], start=1)]

    @staticmethod
    def _result(n: int, hit: Hit) -> SearchResult:
        return {"id": hit.id, "content": format_hits([hit], start=n), "score": hit.score,
                "metadata": {**hit.metadata, "source": hit.source,
                             "chunk_index": hit.chunk_index}}

    async def asearch(self, query: list[str], limit: int = 5,
                      metadata_filter: dict[str, Any] | None = None,
                      score_threshold: float = 0.6) -> list[SearchResult]:
        return await asyncio.to_thread(self.search, query, limit, metadata_filter,
                                       score_threshold)

    def save(self, documents: list[str]) -> None:
        """Store texts CrewAI's own sources give; each text is its own source, named by
        its digest, so a text saved again (every kickoff) is stored once."""
        texts = [t for t in dict.fromkeys(documents) if t.strip()]
        self.knowledge_base.add_texts(texts, [
            {"source": SAVED_PREFIX + hashlib.sha256(t.encode()).hexdigest()[:32]}
            for t in texts])

    async def asave(self, documents: list[str]) -> None:
        await asyncio.to_thread(self.save, documents)

    def reset(self) -> None:
        """Empty the knowledge base: its collection, or only its tenant's part."""
        self.knowledge_base.reset()

    async def areset(self) -> None:
        await asyncio.to_thread(self.reset)


class KnowledgeBaseSource(BaseKnowledgeSource):
    """A rankwise knowledge base as a CrewAI knowledge source; `paths` (files or folders)
    are ingested into it whenever CrewAI adds its sources, and unchanged files cost
    nothing. Without paths, the knowledge base is searched as it is.

    The knowledge base, the one required argument, may be given first:
    `KnowledgeBaseSource(kb, paths=["docs"])` or `KnowledgeBaseSource(knowledge_base=kb)`.
    """

    knowledge_base: KnowledgeBase = Field(exclude=True)
    paths: list[Path] = Field(default_factory=list)

    def __init__(self, knowledge_base: KnowledgeBase | None = None, /, **data: Any) -> None:
        if knowledge_base is not None:
            if "knowledge_base" in data:
                raise TypeError("KnowledgeBaseSource got the knowledge base twice: give it "
                                "first or as knowledge_base=, not both")
            data["knowledge_base"] = knowledge_base
        super().__init__(**data)

    def validate_content(self) -> list[Path]:
        return self.paths

    def add(self) -> None:
        storage = self.storage
        if not (isinstance(storage, KnowledgeBaseStorage)
                and storage.knowledge_base is self.knowledge_base):
            raise InvalidArgumentError(
                "this crew's knowledge is not stored in the knowledge base of its "
                "KnowledgeBaseSource: call rankwise.agents.use_knowledge_base(kb) with that "
                "knowledge base before building the Agent or Crew")
        if self.paths:
            self.knowledge_base.ingest(self.paths)

    async def aadd(self) -> None:
        await asyncio.to_thread(self.add)


def use_knowledge_base(knowledge_base: KnowledgeBase | None, *,
                       reranker: Reranker | None = None,
                       mode: SearchMode | None = None) -> None:
    """Make every CrewAI `Knowledge` built from now on (a crew's or an agent's) search
    `knowledge_base`; None restores CrewAI's own storage. Process-wide, as CrewAI's
    `set_knowledge_storage_factory` is."""
    if knowledge_base is None:
        set_knowledge_storage_factory(None)
        return
    storage = KnowledgeBaseStorage(knowledge_base=knowledge_base, reranker=reranker, mode=mode)
    set_knowledge_storage_factory(lambda embedder, collection_name: storage)
