"""Tools that change or list the knowledge base: `ingest` (only under folders the host
allows), `list_sources` and `delete`. A long-lived server (`rankwise mcp --admin`) offers
them so that it stays the one process writing its Milvus Lite file.

No `from __future__ import annotations`, for the reason given in
`rankwise.tools.agent_tools.retrieve`.
"""

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import InvalidArgumentError
from ..services.knowledge_base import KnowledgeBase
from .base import RankwiseTool, expected_errors


def allowed_path(path: str, roots: Sequence[str | Path]) -> Path:
    """`path` resolved (relative to the first root), if it lies inside one of `roots`."""
    folders = [Path(root).expanduser().resolve() for root in roots]
    if not folders:
        raise InvalidArgumentError("no folder may be ingested from: set ingest_roots "
                                   "(RANKWISE_INGEST_ROOTS) or --ingest-root")
    resolved = (folders[0] / Path(path).expanduser()).resolve()
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise InvalidArgumentError(
            f"{path!r} is outside the folders this server may ingest "
            f"({', '.join(map(str, folders))}): ask its operator to add it (ingest_roots)")
    return resolved


class IngestInput(BaseModel):
    """Arguments of the `ingest` tool."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    path: str
    """A file or folder to ingest, inside a folder this server may read (relative paths
    are read from the first of them)."""
    prune: bool = False
    """Also delete the chunks of files under `path` that no longer exist."""


class IngestTool(RankwiseTool):
    """Ingest files under the allowed folders; artifact = the ingest report."""

    name: str = "ingest"
    description: str = (
        "Add or update documents in the knowledge base from a file or folder on the server. "
        "Unchanged files cost nothing; only folders the server allows can be read."
    )
    args_schema: type[BaseModel] = IngestInput
    knowledge_base: KnowledgeBase
    """The knowledge base written."""
    roots: list[Path] = Field(min_length=1)
    """The folders whose files may be ingested (symbolic links inside them are followed:
    they are the folder owner's choice)."""

    @expected_errors
    def _run(self, path: str, prune: bool = False,
             run_manager: CallbackManagerForToolRun | None = None) -> tuple[str, dict[str, Any]]:
        report = self.knowledge_base.ingest([allowed_path(path, self.roots)], prune=prune)
        details = "".join(f"\n{line}" for line in (*report.skipped, *report.failed,
                                                    *report.warnings))
        return report.summary() + details, dataclasses.asdict(report)


class NoInput(BaseModel):
    """A tool without arguments."""


class ListSourcesTool(RankwiseTool):
    """The sources in the knowledge base; artifact = {"sources", "chunks"}."""

    name: str = "list_sources"
    description: str = "List the documents (sources) in the knowledge base and its size."
    args_schema: type[BaseModel] = NoInput
    knowledge_base: KnowledgeBase

    @expected_errors
    def _run(self, run_manager: CallbackManagerForToolRun | None = None
             ) -> tuple[str, dict[str, Any]]:
        sources, chunks = self.knowledge_base.sources(), self.knowledge_base.count()
        text = f"{len(sources)} sources, {chunks} chunks" + "".join(f"\n{s}" for s in sources)
        return text, {"sources": sources, "chunks": chunks}


class DeleteInput(BaseModel):
    """Arguments of the `delete` tool: one source, or chunk ids."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    source: str | None = None
    """A source as `list_sources` names it: all its chunks are deleted."""
    ids: list[str] | None = None
    """Chunk ids, as `retrieve` returns them."""


class DeleteTool(RankwiseTool):
    """Delete one source's chunks, or chunks by id; artifact = {"deleted"}."""

    name: str = "delete"
    description: str = ("Delete a document (by its source, as list_sources names it) or "
                        "passages (by id) from the knowledge base.")
    args_schema: type[BaseModel] = DeleteInput
    knowledge_base: KnowledgeBase

    @expected_errors
    def _run(self, source: str | None = None, ids: list[str] | None = None,
             run_manager: CallbackManagerForToolRun | None = None
             ) -> tuple[str, dict[str, Any]]:
        deleted = self.knowledge_base.delete(ids, source=source)
        return f"deleted {deleted} chunks", {"deleted": deleted}
