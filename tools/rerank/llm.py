"""Chat calls for reranking: ChatOllama with a concurrency bound, retries and usage counts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from ..ollama import acall_with_retry, client_kwargs
from ..settings import Settings

CHARS_PER_TOKEN = 3  # conservative for English prose; keeps prompts inside num_ctx


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency: float
    first_token_alternatives: list[dict] | None


async def context_length(settings: Settings) -> int:
    """num_ctx to send: the configured size, capped by the model's own (from /api/show).

    Also the fail-fast check: a model that is not pulled raises ModelNotFoundError here,
    before any rerank call goes out.
    """
    from ollama import AsyncClient

    client = AsyncClient(host=settings.ollama_host, **client_kwargs(settings.request_timeout))
    shown = await acall_with_retry(lambda: client.show(settings.chat_model),
                                   host=settings.ollama_host, model=settings.chat_model,
                                   attempts=settings.retry_attempts)
    info = shown.modelinfo or {}
    model_ctx = next((int(v) for k, v in info.items() if k.endswith(".context_length")), None)
    return min(settings.chat_num_ctx, model_ctx) if model_ctx else settings.chat_num_ctx


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut + " …"


class ChatCaller:
    """One event loop's chat model: at most `concurrency` calls in flight, each retried."""

    def __init__(self, settings: Settings, num_ctx: int, concurrency: int,
                 config: RunnableConfig | None = None) -> None:
        self.settings = settings
        self.num_ctx = num_ctx
        self.config = config
        from langchain_ollama import ChatOllama  # deferred: costs ~0.5 s to import

        self._semaphore = asyncio.Semaphore(concurrency)
        self._model = ChatOllama(
            model=settings.chat_model,
            base_url=settings.ollama_host,
            client_kwargs=client_kwargs(settings.request_timeout),
        )

    def passage_chars(self, passages: int, reserved_tokens: int) -> int:
        """Characters each of `passages` may take so the prompt fits the context."""
        room = max(self.num_ctx - reserved_tokens, 64) * CHARS_PER_TOKEN // max(passages, 1)
        return max(100, min(self.settings.rerank_passage_chars, room))

    async def chat(self, messages: list[BaseMessage], *, max_tokens: int,
                   logprobs: bool = False) -> Reply:
        options = {"num_ctx": self.num_ctx, "temperature": 0, "num_predict": max_tokens}
        extra = {"logprobs": True, "top_logprobs": 5} if logprobs else {}
        async with self._semaphore:
            started = time.perf_counter()
            message: AIMessage = await acall_with_retry(
                lambda: self._model.ainvoke(messages, self.config, options=options,
                                            stream=False, **extra),
                host=self.settings.ollama_host, model=self.settings.chat_model,
                attempts=self.settings.retry_attempts,
            )
            latency = time.perf_counter() - started
        usage = message.usage_metadata or {}
        token_logprobs = message.response_metadata.get("logprobs") or []
        return Reply(
            text=message.text,
            prompt_tokens=usage.get("input_tokens", 0),
            completion_tokens=usage.get("output_tokens", 0),
            latency=latency,
            first_token_alternatives=(token_logprobs[0].get("top_logprobs")
                                      if token_logprobs else None),
        )
