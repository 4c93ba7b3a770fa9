"""Health checks for `rankwise doctor`: each failing check says how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .embedder import Embedder
from .errors import RankwiseError
from .settings import Settings
from .store import MilvusStore


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _pulled(host: str, timeout: float) -> set[str]:
    reply = httpx.get(f"{host}/api/tags", timeout=timeout)
    reply.raise_for_status()
    names = {m.get("model") or m.get("name", "") for m in reply.json().get("models", [])}
    return names | {n.removesuffix(":latest") for n in names}


def run_checks(settings: Settings) -> list[Check]:
    """Ollama reachable, models pulled, embedding dimension, Milvus open, collection stats."""
    checks: list[Check] = []
    host = settings.ollama_host
    try:
        version = httpx.get(f"{host}/api/version", timeout=min(settings.request_timeout, 5.0))
        version.raise_for_status()
        checks.append(Check("ollama", True, f"{host} (version {version.json().get('version')})"))
        pulled = _pulled(host, settings.request_timeout)
    except httpx.HTTPError as exc:
        checks.append(Check("ollama", False, f"{host} unreachable: {exc}",
                            "start it with `ollama serve`, or set OLLAMA_HOST"))
        pulled = None
    for role, model in (("embedding model", settings.embed_model),
                        ("chat model", settings.chat_model)):
        if pulled is not None:
            ok = model in pulled
            checks.append(Check(role, ok, f"{model} {'pulled' if ok else 'not pulled'}",
                                "" if ok else f"run `ollama pull {model}`"))
    dimension = None
    if pulled is not None and settings.embed_model in pulled:
        try:
            dimension = len(Embedder(settings).embed_query("dimension check"))
            checks.append(Check("embedding", True, f"{dimension} dimensions"))
        except RankwiseError as exc:
            checks.append(Check("embedding", False, str(exc)))
    try:
        store = MilvusStore(settings)
        checks.append(Check("milvus", True, f"{settings.milvus_uri} opened"))
    except RankwiseError as exc:
        checks.append(Check("milvus", False, str(exc)))
        return checks
    if store.dimension is None:
        checks.append(Check(
            "collection", True,
            f"{settings.collection!r} not created yet (`rankwise ingest` makes it)"))
    else:
        detail = (f"{settings.collection!r}: {store.count()} chunks from "
                  f"{len(store.sources())} sources, {store.dimension} dimensions")
        fits = dimension is None or dimension == store.dimension
        checks.append(Check(
            "collection", fits, detail,
            "" if fits else f"the model gives {dimension}-d vectors: use another collection",
        ))
    return checks
