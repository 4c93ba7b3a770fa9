"""Health checks for `rankwise doctor`: each failing check says how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from ..adapters.models.ollama import server_status
from ..core.errors import OllamaUnavailableError, RankwiseError
from ..core.settings import Settings
from .knowledge_base import KnowledgeBase


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False  # not tried, because of a check that failed before it

    @property
    def failed(self) -> bool:
        return not (self.ok or self.skipped)


def _skipped(name: str, why: str) -> Check:
    return Check(name, False, f"skipped: {why}", skipped=True)


def _ollama_checks(settings: Settings) -> tuple[list[Check], str | None]:
    """Ollama reachable, and each Ollama model pulled; why the embedding model cannot be
    tried, when Ollama serves it and it cannot."""
    host = settings.ollama_host
    try:
        version, pulled = server_status(host, settings.request_timeout)
    except OllamaUnavailableError as exc:
        return [Check("ollama", False, str(exc),
                      "start it with `ollama serve`, or set OLLAMA_HOST")], (
            f"Ollama at {host} cannot be reached" if settings.embed.is_ollama else None)
    checks = [Check("ollama", True, f"{host} (version {version})")]
    blocked = None
    for role, ref in (("embedding model", settings.embed), ("chat model", settings.chat)):
        if ref.is_ollama:
            ok = ref.name in pulled
            checks.append(Check(role, ok, f"{ref.name} {'pulled' if ok else 'not pulled'}",
                                "" if ok else f"run `ollama pull {ref.name}`"))
            if not ok and role == "embedding model":
                blocked = f"the embedding model {ref.name} is not pulled"
    return checks, blocked


def run_checks(settings: Settings) -> list[Check]:
    """Ollama reachable and models pulled (when Ollama serves them), the embedding
    dimension, Milvus open, the collection's stats and how each search leg reads it. A
    check that cannot run because of another's failure is listed as skipped, with why."""
    checks: list[Check] = []
    blocked = None
    if settings.embed.is_ollama or settings.chat.is_ollama:
        checks, blocked = _ollama_checks(settings)
    for role, ref in (("embedding model", settings.embed), ("chat model", settings.chat)):
        if not ref.is_ollama:
            where = (settings.served_at(chat=role == "chat model")
                     or "the provider's default URL")
            checks.append(Check(role, True, f"{ref} at {where}"))
    dimension = None
    kb = KnowledgeBase(settings)
    if blocked is None:
        try:
            dimension = len(kb.embedder.embed_query("dimension check"))
            checks.append(Check("embedding", True, f"{dimension} dimensions"))
        except RankwiseError as exc:
            blocked = "the embedding model did not answer"
            checks.append(Check("embedding", False, str(exc)))
    else:
        checks.append(_skipped("embedding", blocked))
    try:
        store = kb.store
        checks.append(Check("milvus", True, f"{settings.milvus_uri} opened: "
                                             f"{store.capabilities.describe()}"))
        if not store.capabilities.bm25 and settings.search_mode != "dense":
            checks.append(Check(
                "search mode", False,
                f"{settings.search_mode} search needs BM25 functions, which this Milvus "
                f"({store.capabilities.version}) lacks: every such search will fail",
                "set RANKWISE_SEARCH_MODE=dense, or run Milvus 2.5 or later"))
    except RankwiseError as exc:
        checks.append(Check("milvus", False, str(exc)))
        return checks
    if store.dimension is None:
        checks.append(Check(
            "collection", True,
            f"{settings.collection!r} not created yet (`rankwise ingest` makes it)"))
    else:
        lexical = (store.analyzer.describe() if store.analyzer
                   else "BM25 on the raw text (made before rankwise analysed it)"
                   if store.lexical else "no BM25 field")
        detail = (f"{settings.collection!r}: {store.count()} chunks from "
                  f"{len(store.sources())} sources, {store.dimension} dimensions, {lexical}")
        fits = dimension is None or dimension == store.dimension
        checks.append(Check(
            "collection", fits, detail,
            "" if fits else f"the model gives {dimension}-d vectors: use another collection",
        ))
        if fits and store.lexical:
            checks.append(_legs(kb, blocked))
    kb.close()
    return checks


def _legs(kb: KnowledgeBase, blocked: str | None) -> Check:
    """How each search leg reads the collection: as measured at ingest, or measured now
    when the embedding model answers."""
    if blocked is None:
        try:
            kb.measured_legs()
        except RankwiseError as exc:
            return Check("search legs", False, f"could not be measured: {exc}")
    elif kb.store.calibration is None:
        return _skipped("search legs", f"not measured at ingest, and {blocked}")
    report = kb.leg_report()
    calibration = kb.store.calibration
    if report is None or calibration is None:
        return Check("search legs", True, "too few chunks to measure")
    head, _, fix = report.partition(". ")
    weak = calibration.weak_leg() is not None
    return Check("search legs", not weak, head, fix if weak else "")
