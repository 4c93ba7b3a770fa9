"""A retrieved chunk, as the LLM and the calling code see it."""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from pydantic import BaseModel, Field


class Hit(BaseModel):
    """One retrieved chunk: raw text plus where it came from and how well it matched."""

    id: str
    text: str
    score: float = Field(description="Cosine similarity (dense) or RRF score (hybrid).")
    source: str
    chunk_index: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_milvus(cls, row: dict[str, Any]) -> Hit:
        entity = row.get("entity", row)
        return cls(
            id=row["id"],
            text=entity["text"],
            score=float(row.get("distance", 0.0)),
            source=entity["source"],
            chunk_index=int(entity.get("chunk_index", 0)),
            metadata=entity.get("metadata") or {},
        )

    def to_document(self) -> Document:
        """A LangChain Document whose metadata carries id, source, score and chunk index."""
        return Document(
            id=self.id,
            page_content=self.text,
            metadata={
                **self.metadata,
                "id": self.id,
                "source": self.source,
                "chunk_index": self.chunk_index,
                "score": self.score,
            },
        )


def format_hits(hits: list[Hit]) -> str:
    """Numbered passages with ids and sources, ready to put in front of an LLM."""
    if not hits:
        return "No passages found."
    return "\n\n".join(
        f"[{n}] id={hit.id} source={hit.source} score={hit.score:.3f}\n{hit.text}"
        for n, hit in enumerate(hits, start=1)
    )
