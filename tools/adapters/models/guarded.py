"""Any LangChain embeddings or chat model behind a provider's error boundary.

The rest of rankwise (ingest, search, rerank, the graph) only ever sees these two
classes: errors arrive translated, transient faults were retried, and embedding texts
carry the prompts the model was trained with.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict

from ...core.aio import run_sync
from ...core.chunking import ESTIMATE_MARGIN, TokenCounter, estimate_tokens
from ...core.errors import InvalidVectorError, ModelRequestError
from .boundary import Provider

# The inner model's own run is not reported to the caller's callbacks: this model's run
# is, so a streamed token reaches a LangGraph stream once, not twice.
_QUIET: RunnableConfig = {"callbacks": []}


@dataclass(frozen=True)
class EmbeddingIdentity:
    """What made a collection's vectors: stored with it, checked on every open."""

    provider: str
    model: str
    query_prefix: str
    document_prefix: str
    roles: str = "text"  # how requests say query or document (`embed_roles`)

    def as_dict(self) -> dict[str, str]:
        """The record; `roles` only when the server is told them (collections made before
        the setting match the default)."""
        record = asdict(self)
        if self.roles == "text":
            del record["roles"]
        return record


class GuardedEmbeddings(Embeddings):
    """Embeddings with task prefixes, retries, translated errors and a count check; they
    know how many tokens a chunk may hold. Queries go to `query_inner` where the server
    learns the role from the request (see `core.roles`), else to `inner`."""

    def __init__(self, inner: Embeddings, provider: Provider, identity: EmbeddingIdentity,
                 attempts: int, *, count_tokens: TokenCounter = estimate_tokens,
                 exact_tokens: bool = False, window: int | None = None,
                 query_inner: Embeddings | None = None) -> None:
        self.inner, self.provider, self.identity, self.attempts = (
            inner, provider, identity, attempts)
        self.query_inner = query_inner or inner
        self.count_tokens, self.exact_tokens, self._window = count_tokens, exact_tokens, window

    def chunk_tokens(self, wanted: int, reserved: int = 0) -> int:
        """Tokens a chunk may hold: `wanted`, or fewer so that the chunk, `reserved` tokens
        beside it (its headings), the document prompt and two special tokens fit the
        model's window (from the settings, else from the server); estimated counts may
        fill `ESTIMATE_MARGIN` of it."""
        if self._window is None:
            self._window = run_sync(self.provider.context_window())
        if self._window is None:
            return wanted
        usable = self._window if self.exact_tokens else int(self._window * ESTIMATE_MARGIN)
        room = usable - self.count_tokens(self.identity.document_prefix) - 2 - reserved
        return max(16, min(wanted, room))

    @property
    def model(self) -> str:
        return self.identity.model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        prefixed = [self.identity.document_prefix + t for t in texts]
        return self.provider.call(
            lambda: self._checked(self.inner.embed_documents(prefixed), len(texts)),
            self.attempts, retry_also=InvalidVectorError)

    def embed_once(self, texts: list[str]) -> list[list[float]]:
        """One request and no retry, errors translated: for a caller that paces and
        retries itself (ingest)."""
        prefixed = [self.identity.document_prefix + t for t in texts]
        return self.provider.call(
            lambda: self._checked(self.inner.embed_documents(prefixed), len(texts)), 1)

    def embed_query(self, text: str) -> list[float]:
        prefixed = self.identity.query_prefix + text
        return self.provider.call(
            lambda: self._checked([self.query_inner.embed_query(prefixed)], 1)[0],
            self.attempts, retry_also=InvalidVectorError)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Queries embedded as `embed_query` would, in one request where the provider
        embeds a query the same as a document of one text (Ollama, OpenAI)."""
        if not self.provider.batches_queries:
            return [self.embed_query(text) for text in texts]
        prefixed = [self.identity.query_prefix + t for t in texts]
        return self.provider.call(
            lambda: self._checked(self.query_inner.embed_documents(prefixed), len(texts)),
            self.attempts, retry_also=InvalidVectorError)

    def _checked(self, vectors: Sequence[Sequence[float]], expected: int) -> list[list[float]]:
        """`vectors` if there is one per text, each finite, non-zero and of one length;
        a bad batch is retried like a transient fault, then reported, never stored."""
        label = f"{self.provider.name} model {self.model!r}"
        if len(vectors) != expected:
            raise ModelRequestError(f"{label} returned {len(vectors)} embeddings for "
                                    f"{expected} texts; check the server")
        checked = [list(map(float, v)) for v in vectors]
        for position, vector in enumerate(checked):
            problem = ("is empty" if not vector
                       else f"has {len(vector)} numbers, not {len(checked[0])}"
                       if len(vector) != len(checked[0])
                       else "holds NaN or infinite numbers"
                       if not all(map(math.isfinite, vector))
                       else "is all zeros" if not any(vector) else "")
            if problem:
                raise InvalidVectorError(
                    f"{label} returned a vector that {problem} (text {position + 1} of "
                    f"{expected}); it was not stored. Check the model and the server")
        return checked


class GuardedChatModel(BaseChatModel):
    """A chat model whose calls go through its provider's boundary. `bind_tools` keeps
    the boundary; streams are retried only until their first chunk arrives."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    provider: Provider
    attempts: int = 4
    bound: dict[str, Any] = {}
    """Arguments `bind_tools` bound (the tools, in the provider's format)."""

    @property
    def _llm_type(self) -> str:
        return f"rankwise-{self.provider.name}"

    @property
    def model_name(self) -> str:
        return self.provider.model

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> GuardedChatModel:
        # Keep the inner model itself and pass the tools per call: a RunnableBinding
        # would merge the caller's callbacks back in and every token would stream twice.
        binding = self.inner.bind_tools(tools, **kwargs)
        bound = getattr(binding, "kwargs", {})  # a RunnableBinding's call arguments
        return self.model_copy(update={"bound": {**self.bound, **bound}})

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"stop": stop, **self.bound, **kwargs}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        options = self._options(stop, kwargs)
        reply = self.provider.call(lambda: self.inner.invoke(messages, _QUIET, **options),
                                   self.attempts)
        return _result(reply)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        options = self._options(stop, kwargs)
        reply = await self.provider.acall(
            lambda: self.inner.ainvoke(messages, _QUIET, **options), self.attempts)
        return _result(reply)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        def first() -> tuple[BaseMessageChunk | None, Iterator[BaseMessageChunk]]:
            chunks = iter(self.inner.stream(messages, _QUIET, **self._options(stop, kwargs)))
            return next(chunks, None), chunks

        head, rest = self.provider.call(first, self.attempts)
        try:
            if head is not None:
                yield ChatGenerationChunk(message=head)
            for chunk in rest:
                yield ChatGenerationChunk(message=chunk)
        except Exception as exc:
            self.provider.raise_translated(exc)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async def first() -> tuple[BaseMessageChunk | None, AsyncIterator[BaseMessageChunk]]:
            chunks = aiter(self.inner.astream(messages, _QUIET, **self._options(stop, kwargs)))
            return await anext(chunks, None), chunks

        head, rest = await self.provider.acall(first, self.attempts)
        try:
            if head is not None:
                yield ChatGenerationChunk(message=head)
            async for chunk in rest:
                yield ChatGenerationChunk(message=chunk)
        except Exception as exc:
            self.provider.raise_translated(exc)


def _result(reply: BaseMessage) -> ChatResult:
    message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.content)
    return ChatResult(generations=[ChatGeneration(message=message)])
