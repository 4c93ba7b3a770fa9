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
from ...core.chunking import estimate_tokens, within_tokens

_FENCE_TOKENS = 12  # a passage's label and fence around its text


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency: float
    token_alternatives: list[list[dict]]  # per reply token, when it has log-probabilities


def truncate(text: str, limit: int, tokens: int | None = None) -> str:
    """`text` cut to `limit` characters and, given, an estimated `tokens` (a Chinese
    character is about one), at a word boundary, marked with an ellipsis."""
    cut = text[:limit] if tokens is None else within_tokens(text[:limit], tokens)
    if len(cut) == len(text):
        return text
    cut = cut.rsplit(None, 1)[0] if " " in cut.strip() else cut
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

    def fit(self, texts: list[str], reserved: str, reserved_tokens: int) -> list[str]:
        """`texts` cut so that they, `reserved` (the query) and `reserved_tokens` (the
        prompt's own text and the reply) fit the context: an equal share of estimated
        tokens each, and `passage_chars` characters at most."""
        room = self.num_ctx - reserved_tokens - estimate_tokens(reserved)
        share = max(room // max(len(texts), 1) - _FENCE_TOKENS, 32)
        return [truncate(text, self.max_passage_chars, share) for text in texts]

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
