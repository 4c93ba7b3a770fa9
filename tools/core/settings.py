"""One settings object for rankwise: environment variables and constructor arguments."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .analysis import lexical_languages
from .roles import EmbeddingRoles
from .vocabulary import (
    MAX_RERANK_N,
    MAX_TOOL_K,
    PreStage,
    SearchMode,
    Strategy,
    check_window,
)

# The providers LangChain's `init_chat_model` / `init_embeddings` know by name. A model
# string starting with one of them and a colon names that provider; any other string is
# an Ollama model, whose own names may contain a colon (`llama3.2:3b`).
PROVIDERS = frozenset({
    "ollama", "openai", "azure_openai", "azure_ai", "anthropic", "google_genai",
    "google_vertexai", "google_anthropic_vertex", "bedrock", "bedrock_converse", "cohere",
    "fireworks", "together", "mistralai", "huggingface", "groq", "deepseek", "ibm",
    "nvidia", "xai", "perplexity",
})


@dataclass(frozen=True)
class ModelRef:
    """A model named the LangChain way: `provider:model`; a bare name is an Ollama model."""

    provider: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        provider, sep, name = text.partition(":")
        if sep and provider in PROVIDERS and name:
            return cls(provider, name)
        return cls("ollama", text)

    @property
    def is_ollama(self) -> bool:
        return self.provider == "ollama"

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


class Settings(BaseSettings):
    """Configuration read from `RANKWISE_*` variables (and Ollama's own `OLLAMA_HOST`).

    Constructor arguments win over the environment: `Settings(collection="notes")`.
    """

    model_config = SettingsConfigDict(env_prefix="RANKWISE_", extra="forbid", populate_by_name=True)

    ollama_host: str = Field(
        "http://localhost:11434",
        # "ollama_host" also matches Ollama's own OLLAMA_HOST (names are case-insensitive).
        validation_alias=AliasChoices("RANKWISE_OLLAMA_HOST", "ollama_host"),
        description="Base URL of the Ollama server.",
    )
    embed_model: str = Field(
        "ollama:nomic-embed-text",
        description="Embedding model as provider:model (a bare name is an Ollama model).")
    chat_model: str = Field(
        "ollama:llama3.2",
        description="Chat model for rerank and answers, as provider:model.")
    base_url: str | None = Field(
        None, description="Base URL of a non-Ollama provider (an OpenAI-compatible server).")
    api_key: SecretStr | None = Field(
        None, description="API key of a non-Ollama provider (else its own variable).")
    chat_base_url: str | None = Field(
        None, description="Base URL of the chat model's server when it is not base_url's "
        "(e.g. llama.cpp's server for chat, an embedding server at base_url).")
    query_prefix: str | None = Field(
        None, description="Text put before every query embedded (default: the model's).")
    document_prefix: str | None = Field(
        None, description="Text put before every chunk embedded (default: the model's).")
    embed_roles: str = Field(
        "text", description="How an embedding request says query or document: text (the "
        "model's prompts in the text), none, input_type, prompt_name, task (a request field, "
        "for servers that add the prompts themselves), FIELD=QUERY,DOCUMENT, or "
        "model=QUERY_MODEL,DOCUMENT_MODEL.")
    milvus_uri: str = Field(
        "./rankwise.db",
        description="Milvus Lite file path, or http(s)://host:19530 for a Milvus server.",
    )
    milvus_token: SecretStr | None = Field(
        None, description="Token for a Milvus server or Zilliz Cloud.")
    milvus_db: str | None = Field(None, description="Milvus database (servers; default 'default').")
    collection: str = Field("rankwise", max_length=255, description="Milvus collection name.")
    tenant: str | None = Field(
        None, min_length=1, max_length=256,
        description="Tenant whose chunks this process writes and searches, in a "
        "collection many tenants share (a partition key).")
    search_mode: SearchMode = Field(
        "hybrid", description="hybrid (dense + BM25, fused), dense, or lexical (BM25): for the "
        "search API, the tools, the retriever, the graph and the CLI.")
    hybrid_depth: int = Field(
        100, ge=1, le=1000, description="Candidates each search of a hybrid search fuses.")
    lexical_weight: float | None = Field(
        None, ge=0, le=1, description="Share of the BM25 scores in hybrid fusion (dense: the "
        "rest); default: calibrated per collection from how well each leg reads it (0.3 "
        "when both read it alike).")
    lexical_language: str = Field(
        "auto", description="BM25 stemming and stopwords of the words outside Han text: auto "
        "(detected from a new collection's first chunks, then recorded), none, or a language "
        "such as english, german, french (27 with Snowball stemmers and stopword lists). Han "
        "text is segmented by jieba whatever the language.")
    request_timeout: float = Field(60.0, gt=0, le=86_400, allow_inf_nan=False,
                                   description="Seconds per model request, every provider "
                                   "(an ingest sizes its embedding requests to a sixth of it).")
    retry_attempts: int = Field(
        4, ge=1, le=20, description="Tries for a transient fault (refused, reset, timeout, 429, "
        "5xx, a garbled reply); an ingest allows five times as many failures in a row once the "
        "server has answered.")
    chunk_size: int = Field(
        256, ge=16, le=8192, description="Embedding-model tokens per chunk at most (fewer "
        "when the model's window is smaller).")
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by neighbouring chunks.")
    embed_context: int | None = Field(
        None, ge=16, description="The embedding model's window in tokens (default: what "
        "Ollama's /api/show says; unknown for other providers): set it when a server "
        "overstates it.")
    embed_tokenizer: str | None = Field(
        None, description="The embedding model's Hugging Face tokenizer.json, for exact token "
        "counts (default: an over-estimate that may fill 90% of the window).")
    embed_batch_size: int = Field(64, ge=1, description="Texts per embedding request at most.")
    embed_batch_chars: int = Field(64_000, ge=1000, description="Characters per request at most.")
    embed_concurrency: int = Field(
        4, ge=1, le=64,
        description="Embedding requests computing at once at most (one more waits queued).")
    chat_num_ctx: int = Field(
        8192, ge=512, description="Context sent as num_ctx (capped by the model's own)."
    )
    rerank_strategy: Strategy = Field(
        "listwise", description="How the LLM reorders candidates: pointwise, listwise, "
        "tournament, pairwise, cross_encoder (the rerank model alone) or none.")
    rerank_top_n: int = Field(20, ge=1, le=MAX_RERANK_N,
                              description="Candidates retrieved for rerank.")
    rerank_top_k: int = Field(5, ge=1, le=MAX_TOOL_K, description="Passages kept after rerank.")
    rerank_window: int = Field(20, ge=2, le=100, description="Passages per listwise prompt.")
    rerank_step: int = Field(10, ge=1, le=100, description="Sliding-window step.")
    rerank_concurrency: int = Field(4, ge=1, le=64, description="LLM calls in flight.")
    rerank_url: str | None = Field(
        None, description="Server of a dedicated rerank model's /v1/rerank API (TEI, vLLM, "
        "llama.cpp, Jina, Cohere), for the cross_encoder strategy or pre-stage.")
    rerank_model: str | None = Field(
        None, description="The rerank model's name, e.g. BAAI/bge-reranker-v2-m3 (servers "
        "that serve one model ignore it).")
    rerank_api_key: SecretStr | None = Field(None, description="Bearer key for the rerank API.")
    rerank_pre: PreStage | None = Field(
        None, description="cross_encoder: the rerank model cuts the candidates to "
        "rerank_pre_k before an LLM strategy.")
    rerank_pre_k: int = Field(30, ge=2, le=MAX_RERANK_N,
                              description="Candidates the pre-stage keeps.")
    rerank_logprobs: bool = Field(
        False, description="Order pointwise grades and pairwise preferences by the chat "
        "model's log-probabilities, for models whose are calibrated; off, its answers decide "
        "and ties keep the retrieval order (a small model's near-flat log-probabilities "
        "reorder at random).")
    rerank_batch_size: int = Field(
        32, ge=1, le=1000, description="Documents per rerank API request (TEI's default cap).")
    # NoDecode: the variable's JSON is read by `_json_list`, whose error is one clear line
    ingest_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Folders a served knowledge base may ingest from "
        "when a client asks (MCP --ingest-root, LangGraph Server's ingest graph); JSON list.")
    threads_db: str = Field(
        "./rankwise-threads.sqlite", description="SQLite file keeping `ask --thread` "
        "conversations."
    )
    rerank_passage_chars: int = Field(
        2000, ge=100, description="Characters of one passage in a rerank prompt at most."
    )

    @field_validator("ollama_host")
    @classmethod
    def _with_scheme(cls, host: str) -> str:
        host = host.strip().rstrip("/")
        host = host if "://" in host else f"http://{host}"
        if not host.lower().startswith(("http://", "https://")) or "://" in host[8:]:
            raise ValueError(f"{host!r} is not an http:// or https:// URL of an Ollama server")
        return host

    @field_validator("embed_model", "chat_model")
    @classmethod
    def _named(cls, model: str) -> str:
        if not model.strip() or model.strip().endswith(":"):
            raise ValueError("the model name is empty: name one, such as ollama:llama3.2")
        return model.strip()

    @field_validator("embed_roles")
    @classmethod
    def _known_roles(cls, roles: str) -> str:
        return str(EmbeddingRoles.parse(roles))

    @field_validator("lexical_language")
    @classmethod
    def _known_language(cls, language: str) -> str:
        language = language.strip().lower()
        if language not in lexical_languages():
            raise ValueError(f"lexical_language {language!r} is not one of "
                             f"{', '.join(lexical_languages())}")
        return language

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, name: str) -> str:
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(
            ch.isalnum() or ch == "_" for ch in name
        ):
            raise ValueError(
                f"collection name {name!r} is invalid: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        return name

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            folders = json.loads(value)
        except json.JSONDecodeError:
            folders = None
        if not isinstance(folders, list):
            raise ValueError(f"must be a JSON list of folders, such as [\"/srv/docs\"], not "
                             f"{value!r}")
        return folders

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        check_window(self.rerank_step, self.rerank_window, ("rerank_step", "rerank_window"))
        if not self.embedding_roles.in_text and (self.query_prefix or self.document_prefix):
            raise ValueError(
                f"embed_roles={self.embed_roles} lets the server add the model's prompts: "
                "unset query_prefix and document_prefix, or set embed_roles=text")
        return self

    def updated(self, **overrides: object) -> Settings:
        """A copy with `overrides` applied and validated like constructor arguments."""
        return type(self)(**{**self.model_dump(), **overrides}) if overrides else self

    @property
    def embed(self) -> ModelRef:
        """The embedding model, parsed."""
        return ModelRef.parse(self.embed_model)

    @property
    def embedding_roles(self) -> EmbeddingRoles:
        """How embedding requests say query or document, parsed."""
        return EmbeddingRoles.parse(self.embed_roles)

    @property
    def chat(self) -> ModelRef:
        """The chat model, parsed."""
        return ModelRef.parse(self.chat_model)

    def served_at(self, *, chat: bool) -> str | None:
        """The base URL of the non-Ollama server of the chat or the embedding model."""
        return (self.chat_base_url or self.base_url) if chat else self.base_url

    def openai_key(self, *, chat: bool) -> str | None:
        """The key for the OpenAI API: `api_key`, else OPENAI_API_KEY, else, for a server of
        your own (a base URL), a placeholder, since clients refuse to go without one and
        llama.cpp's or vLLM's server wants none; None for OpenAI's own without a key."""
        if self.api_key:
            return self.api_key.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or (
            "unused" if self.served_at(chat=chat) else None)

    @property
    def milvus_is_local(self) -> bool:
        """True when the URI names a Milvus Lite file rather than a server."""
        return "://" not in self.milvus_uri
