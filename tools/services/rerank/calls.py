"""Chat calls for reranking: a concurrency bound, the context budget, usage counts.

Provider differences (Ollama's `num_ctx` and log-probabilities, OpenAI's `max_tokens`)
are the model adapter's; this module only asks for a short, deterministic reply.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from ...adapters.models import GuardedChatModel

CHARS_PER_TOKEN = 3  # conservative for English prose; keeps prompts inside the context


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency: float
    token_alternatives: list[list[dict]]  # per reply token, when it has log-probabilities


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut + " …"


class ChatCaller:
    """A chat model called on `pool`'s threads, so at most its size are in flight.

    Calls use the model's blocking client: unlike an async client, it is bound to no
    event loop, so one model serves `rerank()` (a loop per call), `arerank()` in any
    loop, and the graph's own calls alike.
    """

    def __init__(self, model: GuardedChatModel, pool: ThreadPoolExecutor, *, num_ctx: int,
                 passage_chars: int, config: RunnableConfig | None = None) -> None:
        # "nostream": a rerank reply is never an answer; LangGraph's message stream (and a
        # chat UI reading it) leaves calls tagged so out
        config = config or {}
        self.config: RunnableConfig = {**config, "tags": [*config.get("tags", []), "nostream"]}
        self.model, self.pool, self.num_ctx = model, pool, num_ctx
        self.max_passage_chars = passage_chars

    def passage_chars(self, passages: int, reserved_tokens: int) -> int:
        """Characters each of `passages` may take so the prompt fits the context."""
        room = max(self.num_ctx - reserved_tokens, 64) * CHARS_PER_TOKEN // max(passages, 1)
        return max(100, min(self.max_passage_chars, room))

    async def chat(self, messages: list[BaseMessage], *, max_tokens: int,
                   logprobs: bool = False) -> Reply:
        provider = self.model.provider
        kwargs = provider.rerank_kwargs(num_ctx=self.num_ctx, max_tokens=max_tokens,
                                        logprobs=logprobs)

        def timed() -> tuple[BaseMessage, float]:
            started = time.perf_counter()
            message = self.model.invoke(messages, self.config, **kwargs)
            return message, time.perf_counter() - started

        message, latency = await asyncio.get_running_loop().run_in_executor(self.pool, timed)
        usage = getattr(message, "usage_metadata", None) or {}  # an AIMessage's
        return Reply(text=message.text, prompt_tokens=usage.get("input_tokens", 0),
                     completion_tokens=usage.get("output_tokens", 0), latency=latency,
                     token_alternatives=provider.token_alternatives(message))
