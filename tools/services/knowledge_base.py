"""`KnowledgeBase`: ingest documents and search them, the one entry point of rankwise."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ..adapters import models
from ..core.aio import in_thread
from ..core.calibration import CALIBRATION_VERSION, DEFAULT_SHARES, METHOD, Calibration
from ..core.display import Hits
from ..core.documents import Source, discover, exists, group_documents, load_file
from ..core.errors import (
    CollectionNotFoundError,
    InvalidArgumentError,
    RankwiseError,
    UnreadableFileError,
)
from ..core.filters import checked_expression, compile_filter
from ..core.fusion import fuse
from ..core.settings import Settings
from ..core.vocabulary import (
    MAX_SEARCH_K,
    SEARCH_MODES,
    FilterSpec,
    Hit,
    SearchMode,
    choose,
    require_text,
)
from .calibration import measure_legs
from .ingest import IngestProgress, IngestReport, ingest_sources

if TYPE_CHECKING:
    from ..adapters.milvus import MilvusStore
    from .retriever import KnowledgeBaseRetriever

log = logging.getLogger("rankwise.ingest")


class KnowledgeBase:
    """Documents chunked, embedded and stored in Milvus; searchable as text.

    Embeddings come from `embeddings` (any LangChain `Embeddings`) or, by default, from
    the model `settings.embed_model` names (Ollama's nomic-embed-text).

    >>> with KnowledgeBase(milvus_uri="./notes.db") as kb:    # doctest: +SKIP
    ...     kb.ingest(["docs/"]).summary()
    ...     kb.search("how do I rotate keys?", k=5)
    """

    def __init__(self, settings: Settings | None = None, *,
                 embeddings: Embeddings | None = None, **overrides: Any) -> None:
        self.settings = settings.updated(**overrides) if settings else Settings(**overrides)
        self.embedder = models.embeddings(self.settings, embeddings)
        self._store: MilvusStore | None = None

    @property
    def store(self) -> MilvusStore:
        """The Milvus collection, opened on first use."""
        if self._store is None:
            from ..adapters.milvus import MilvusStore  # deferred: pymilvus costs ~1 s

            self._store = MilvusStore(self.settings, self.embedder.identity.as_dict())
        return self._store

    def close(self) -> None:
        """Close the store (a Milvus Lite file is unlocked); the next use reopens it."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # ---- ingest -------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Ingest files and directories; with `prune`, drop the chunks of sources under
        `paths` whose files no longer exist. What cannot be read is reported in
        `skipped` and never pruned."""
        found = discover(paths, include, exclude)
        if progress is not None:
            progress.start(len(found.files))
        # The calibration measures the collection as it ends: after pruning, if asked for.
        report = self._ingest(self._read(found.files), progress,
                              then=None if prune else self._recalibrated)
        report.skipped[:0] = found.skipped
        if prune:
            report.removed += self._prune(paths)
            self._recalibrated(report)
        return report

    aingest = in_thread(ingest)

    def add_documents(
        self, documents: Iterable[Document], progress: IngestProgress | None = None
    ) -> IngestReport:
        """Ingest in-code documents; those sharing `metadata['source']` form one source."""
        return self._ingest(group_documents(documents), progress, then=self._recalibrated)

    def add_texts(
        self, texts: Iterable[str], metadatas: Iterable[dict[str, Any]] | None = None
    ) -> IngestReport:
        """Ingest plain texts, each with optional metadata (`source` groups them)."""
        metadatas = metadatas if metadatas is not None else repeat({})
        return self.add_documents(
            Document(page_content=t, metadata=dict(m)) for t, m in zip(texts, metadatas)
        )

    def _ingest(self, items: Iterable[Source | str], progress: IngestProgress | None,
                then: Callable[[IngestReport], object] | None) -> IngestReport:
        new_file = (self._store is None and self.settings.milvus_is_local
                    and not os.path.exists(self.settings.milvus_uri))
        if not new_file:
            store: Future[MilvusStore] = Future()
            store.set_result(self.store)
            return ingest_sources(items, store, self.embedder, self.settings, progress,
                                  then=then)
        # A Milvus Lite file not created yet holds nothing to compare against: it opens
        # on a helper thread (half a second) while the first texts are embedded.
        with ThreadPoolExecutor(1, "rankwise-open") as opener:
            return ingest_sources(items, opener.submit(lambda: self.store), self.embedder,
                                  self.settings, progress, new_store=True, then=then)

    @staticmethod
    def _read(files: list[Path]) -> Iterator[Source | str]:
        for file in files:
            try:
                yield load_file(file)
            except UnreadableFileError as exc:
                yield str(exc)
            except OSError as exc:
                yield f"{file}: {exc.strerror or exc}"

    def _prune(self, roots: Sequence[str | os.PathLike]) -> int:
        """Delete the chunks of sources under `roots` that are gone from the disk. A file
        that exists but was filtered out, or that cannot be read, is never gone."""
        prefixes = [Path(r).resolve().as_posix().rstrip("/") for r in roots]
        gone = [source for source in self.store.sources()
                if any(source == p or source.startswith(p + "/") for p in prefixes)
                and not exists(source)]
        ids = [i for ids in self.store.ids_by_source(gone).values() for i in ids]
        self.store.delete_ids(ids)
        self.store.forget_sources(gone)
        return len(ids)

    # ---- search -------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        filter: FilterSpec | None = None,
        *,
        mode: SearchMode | None = None,
        raw_filter: str | None = None,
    ) -> Hits:
        """The `k` chunks that best match `query`, best first (a list that a notebook
        shows as a table).

        `mode` (default: the `search_mode` setting) is `hybrid`, `dense` or `lexical`; a
        hybrid search fuses the best `hybrid_depth` of each by their normalised scores, and each hit
        says how it was scored (`scored_by`, and `legs` for fused hits). `filter` is a
        typed mapping (see `rankwise.tools.core.filters`); `raw_filter` is a Milvus expression
        used verbatim: never build it from user text.
        """
        require_text(query)
        if not 1 <= k <= MAX_SEARCH_K:
            raise InvalidArgumentError(f"k must be between 1 and {MAX_SEARCH_K}, got {k}")
        mode = choose(mode or self.settings.search_mode, SEARCH_MODES, "mode")
        raw = checked_expression(raw_filter) if raw_filter else ""
        expr = " and ".join(f"({e})" for e in (compile_filter(filter), raw) if e)
        store = self.store
        if store.dimension is None:
            return Hits()
        if mode == "lexical":
            return Hits(store.search_lexical(query, k, expr))
        if mode == "dense":
            return Hits(store.search(self.embedder.embed_query(query), k, expr))
        return Hits(self._hybrid(query, k, expr))

    asearch = in_thread(search)

    def _hybrid(self, query: str, k: int, expr: str) -> list[Hit]:
        """The BM25 search runs beside embedding the query and the dense search; the two
        rankings are fused."""
        store, depth = self.store, max(k, self.settings.hybrid_depth)
        with ThreadPoolExecutor(1, "rankwise-bm25") as beside:
            lexical_search = beside.submit(store.search_lexical, query, depth, expr)
            dense = store.search(self.embedder.embed_query(query), depth, expr)
            lexical = lexical_search.result()
        found = {hit.id: hit for hit in (*lexical, *dense)}
        calibration = store.calibration
        fused = fuse({"dense": [(h.id, h.score) for h in dense],
                      "lexical": [(h.id, h.score) for h in lexical]}, self.fusion_shares(), k,
                     depth, calibration.floors if calibration else None)
        return [found[f.id].model_copy(update={"score": f.score, "scored_by": "fused",
                                               "legs": f.legs}) for f in fused]

    def require_collection(self) -> None:
        """Raise `CollectionNotFoundError`, naming the fix, when there is nothing to search
        yet: no Milvus Lite file at the configured path (none is created), or no
        collection in it. A misspelt path or name then says so instead of finding nothing."""
        settings = self.settings
        if (self._store is None and settings.milvus_is_local
                and not os.path.exists(settings.milvus_uri)):
            raise CollectionNotFoundError(
                f"no knowledge base at {os.path.abspath(settings.milvus_uri)}: ingest "
                "documents first (rankwise ingest PATH), or set RANKWISE_MILVUS_URI to the "
                "file an ingest made")
        if self.store.dimension is None:
            raise CollectionNotFoundError(
                f"collection {settings.collection!r} does not exist at "
                f"{self.store.describe_location()}: ingest documents first (rankwise ingest "
                "PATH), or check RANKWISE_COLLECTION")

    def fusion_shares(self) -> dict[str, float]:
        """Each leg's share of a hybrid search's fused score: the `lexical_weight` setting,
        or the collection's calibration, or the default 0.7 dense / 0.3 BM25."""
        weight = self.settings.lexical_weight
        if weight is not None:
            return {"dense": 1.0 - weight, "lexical": weight}
        calibration = self.store.calibration
        return calibration.shares if calibration else dict(DEFAULT_SHARES)

    def calibrate(self) -> Calibration | None:
        """Measure how well each leg reads this collection (see `core/calibration.py`) and
        record it with the collection; None where there is no BM25 leg or too little text."""
        settings = self.settings
        calibration = measure_legs(self.store, self.embedder, settings.hybrid_depth,
                                   settings.embed_batch_size, settings.embed_batch_chars)
        if calibration is not None:
            self.store.record_calibration(calibration)
        return calibration

    def measured_legs(self) -> Calibration | None:
        """The collection's calibration, measured now if it has none yet or one made by an
        earlier method (None where there is no BM25 leg or too little text)."""
        current = self.store.calibration
        if current is not None and current.version == CALIBRATION_VERSION:
            return current
        return self.calibrate()

    def leg_report(self) -> str | None:
        """One line on how each leg reads the collection, with a fix when one reads it
        badly; None before a calibration."""
        calibration = self.store.calibration
        if calibration is None:
            return None
        shares = self.fusion_shares()
        how = ("each taken out of the chunk it must find (inverse cloze)"
               if calibration.method == METHOD else "each left in its chunk (known item)")
        line = (f"from {calibration.queries} of its own sentences, {how}, dense search "
                f"finds {calibration.dense_mrr:.0%} of those chunks first or near it (MRR), "
                f"BM25 {calibration.lexical_mrr:.0%}; hybrid search weighs them "
                f"{shares['dense']:.0%} / {shares['lexical']:.0%}")
        if calibration.fused_mrr is not None and self.settings.lexical_weight is None:
            line += f", the shares under which it finds most ({calibration.fused_mrr:.0%})"
        weak = calibration.weak_leg()
        if weak == "dense":
            line += (f". The embedding model {self.embedder.model!r} does not read this "
                     "collection well (often its language): a multilingual model such as "
                     "bge-m3 (ollama pull bge-m3; RANKWISE_EMBED_MODEL=bge-m3, then ingest "
                     "into a new collection), or RANKWISE_SEARCH_MODE=lexical, will do better")
        elif weak == "lexical":
            line += (". BM25 reads this collection poorly (set RANKWISE_LEXICAL_LANGUAGE to "
                     "its language), or RANKWISE_SEARCH_MODE=dense will do as well")
        return line

    def _recalibrated(self, report: IngestReport) -> IngestReport:
        """After an ingest that changed the collection: measure the legs again when it has
        none yet or has doubled or halved since, and say so when one reads it badly."""
        if not (report.added or report.removed) or self.settings.lexical_weight is not None:
            return report
        current = self.store.calibration
        if current is None or current.stale(self.store.count()):
            try:
                calibration = self.calibrate()
            except RankwiseError as exc:  # advice, not data: the ingest itself succeeded
                log.warning("the search legs could not be measured: %s", exc)
                return report
            if calibration is not None and calibration.weak_leg():
                report.warnings.append(self.leg_report() or "")
        return report

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Stored chunks by id, in the order given; unknown ids are left out."""
        return self.store.get(ids)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored chunks by id as LangChain Documents (a `VectorStore`'s `get_by_ids`)."""
        return [hit.to_document() for hit in self.get(ids)]

    # ---- maintenance --------------------------------------------------------------
    def delete(self, ids: Sequence[str] | None = None, *, source: str | None = None) -> int:
        """Delete chunks by id, or every chunk of one `source` (as hits name it); returns
        how many were deleted. A later ingest of a source stores what it misses again."""
        if (ids is None) == (source is None):
            raise InvalidArgumentError("delete needs ids=[...] or source=..., exactly one")
        if isinstance(ids, str):
            raise InvalidArgumentError("delete(ids=...) takes a list of ids, not one string")
        if source is not None:
            doomed = sorted(self.store.ids_by_source([source])[source])
            sources = [source]
        else:
            hits = self.store.get(list(dict.fromkeys(ids or ())))
            doomed, sources = [hit.id for hit in hits], sorted({hit.source for hit in hits})
        self.store.delete_ids(doomed)
        self.store.rerecord(sources)
        return len(doomed)

    def reset(self) -> None:
        """Delete everything this knowledge base holds: its collection, or with a
        `tenant`, only that tenant's chunks. The next ingest starts afresh."""
        self.store.reset()
        self.close()

    def sources(self) -> list[str]:
        """Every source with chunks stored (of this tenant), sorted."""
        return sorted(self.store.sources())

    def count(self) -> int:
        """Chunks stored in the collection."""
        return self.store.count()

    # ---- LangChain views ----------------------------------------------------------
    def as_retriever(self, **kwargs: Any) -> KnowledgeBaseRetriever:
        """A LangChain `BaseRetriever` over this knowledge base (a vector store's
        arguments: `search_type`, `search_kwargs`, `k`, `filter`, `mode`)."""
        from .retriever import KnowledgeBaseRetriever

        return KnowledgeBaseRetriever(knowledge_base=self, **kwargs)
