"""OpenAI and OpenAI-compatible servers (vLLM, DashScope's compatible mode, a gateway,
Ollama's own `/v1`): token limits and log-probabilities the OpenAI way."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from .boundary import Provider


class OpenAIProvider(Provider):
    name = "openai"
    batches_queries = True  # its embed_query is embed_documents([text])[0]

    def rerank_kwargs(self, *, num_ctx: int, max_tokens: int, logprobs: bool) -> dict[str, Any]:
        extra = {"logprobs": True, "top_logprobs": 5} if logprobs else {}
        return {"max_tokens": max_tokens, "temperature": 0, **extra}

    def token_alternatives(self, message: BaseMessage) -> list[list[dict[str, Any]]]:
        content = (message.response_metadata.get("logprobs") or {}).get("content") or []
        return [token.get("top_logprobs") or [] for token in content]
