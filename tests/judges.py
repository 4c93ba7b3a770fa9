"""A scripted LLM judge for rerank prompts, served through the fake Ollama's `chat_reply`.

It reads the query and the quoted passages out of rankwise's prompts and answers as a
model would: a grade (with log-probabilities) for pointwise prompts, a label ordering for
listwise ones. Noise and position bias make it an imperfect model on purpose.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable

QUERY = re.compile(r"Query: (.*?)\n")
LABELLED = re.compile(r"\[(\d+)\] <passage>\n(.*?)\n</passage>", re.S)
SINGLE = re.compile(r"<passage>\n(.*?)\n</passage>", re.S)


def first_user_prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


class Judge:
    """`relevance(query, passage)` is the truth; `noise` is the s.d. of a seeded Gaussian
    added per (query, passage); `position_bias` favours passages shown earlier in a list."""

    def __init__(self, relevance: Callable[[str, str], float], *, noise: float = 0.0,
                 position_bias: float = 0.0, seed: int = 0) -> None:
        self.relevance = relevance
        self.noise = noise
        self.position_bias = position_bias
        self.seed = seed

    def perceived(self, query: str, passage: str) -> float:
        value = self.relevance(query, passage)
        if self.noise:
            digest = hashlib.sha256(f"{self.seed}\x00{query}\x00{passage}".encode()).digest()
            value += random.Random(digest).gauss(0.0, self.noise)
        return value

    def __call__(self, body: dict) -> str | dict:
        prompt = first_user_prompt(body)
        query = QUERY.search(prompt).group(1)
        labelled = LABELLED.findall(prompt)
        if labelled:
            return self.rank(query, labelled)
        return self.grade(query, SINGLE.search(prompt).group(1))

    def rank(self, query: str, labelled: list[tuple[str, str]]) -> str:
        size = len(labelled)
        scored = [
            (self.perceived(query, text) + self.position_bias * (size - n) / size, -n, label)
            for n, (label, text) in enumerate(labelled)
        ]
        return " > ".join(f"[{label}]" for *_, label in sorted(scored, reverse=True))

    def grade(self, query: str, passage: str) -> dict:
        value = min(3.0, max(0.0, self.perceived(query, passage)))
        weights = {g: math.exp(-((g - value) ** 2) / 0.5) for g in range(4)}
        total = sum(weights.values())
        best = max(weights, key=weights.get)
        alternatives = [{"token": str(g), "logprob": math.log(w / total)}
                        for g, w in sorted(weights.items(), key=lambda kv: -kv[1])]
        return {"content": str(best),
                "logprobs": [{"token": str(best), "logprob": alternatives[0]["logprob"],
                              "top_logprobs": alternatives}]}
