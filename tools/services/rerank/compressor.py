"""A `Reranker` as LangChain's `BaseDocumentCompressor`, for any retriever:
`ContextualCompressionRetriever(base_compressor=reranker.as_compressor(),
base_retriever=...)` reranks what that retriever finds and keeps the best."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from ...core.vocabulary import Hit, RankedHit
from .reranker import Reranker


def _hit(position: int, document: Document) -> Hit:
    """A document as a candidate; its position is its id (documents may share ids)."""
    metadata = document.metadata
    score = metadata.get("score")
    return Hit(id=str(position), text=document.page_content,
               score=float(score) if isinstance(score, Real) else 0.0,
               source=str(metadata.get("source", document.id or "")))


def _ranked(document: Document, hit: RankedHit) -> Document:
    """`document` with its rank, relevance score and reason in its metadata."""
    extra: dict[str, Any] = {"rerank_rank": hit.rank}
    score = hit.rerank_score if hit.rerank_score is not None else hit.cross_score
    if score is not None:
        extra["relevance_score"] = score
    if hit.reason:
        extra["rerank_reason"] = hit.reason
    return Document(id=document.id, page_content=document.page_content,
                    metadata={**document.metadata, **extra})


class RerankCompressor(BaseDocumentCompressor):
    """Reranks the documents for the query and keeps the best `top_k`, best first; each
    kept document's metadata gains `rerank_rank`, and `relevance_score` and
    `rerank_reason` where the strategy gives them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Reranker = Field(description="The rankwise Reranker.")
    top_k: int | None = Field(None, ge=1, description="Documents kept (default: the "
                                                      "reranker's top_k).")

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        result = self.reranker.rerank(query, self._hits(documents), self.top_k,
                                       {"callbacks": callbacks})
        return [_ranked(documents[int(hit.id)], hit) for hit in result.hits]

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        result = await self.reranker.arerank(query, self._hits(documents), self.top_k,
                                              {"callbacks": callbacks})
        return [_ranked(documents[int(hit.id)], hit) for hit in result.hits]

    @staticmethod
    def _hits(documents: Sequence[Document]) -> list[Hit]:
        return [_hit(position, document) for position, document in enumerate(documents)]
