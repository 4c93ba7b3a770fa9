"""A scripted LLM judge for rerank prompts, served through the fake Ollama's `chat_reply`.

It reads the query and the quoted passages out of rankwise's prompts and answers as a
model would: a grade (with log-probabilities) for pointwise prompts, a label ordering for
listwise ones. Noise and position bias make it an imperfect model on purpose.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable

QUERY = re.compile(r"Query: (.*?)\n")
LABELLED = re.compile(r"\[(\d+)\] <passage>\n(.*?)\n</passage>", re.S)
SINGLE = re.compile(r"<passage>\n(.*?)\n</passage>", re.S)
CONDENSE = re.compile(r"Conversation:\n(.*)\n\nLast question: (.*)\n\nStandalone question:", re.S)
STANDALONE = re.compile(r"standing alone \(search with this\): (.*)")
DOCUMENT = re.compile(r"Document ID: (\d+)\n```(.*?)```", re.S)  # LangChain's LLMListwiseRerank


def first_user_prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


class Judge:
    """`relevance(query, passage)` is the truth; `noise` is the s.d. of a seeded Gaussian
    added per (query, passage); with `position_bias` b, the k-th of n passages shown in one
    prompt loses b * (k - 1) / (min(n, 20) - 1) grade points: b at the 20th place (or the
    last of a shorter prompt, the second of a pair), more further down a longer one."""

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
        if body.get("format"):
            return self.rank_documents(body)
        prompt = first_user_prompt(body)
        query = QUERY.search(prompt).group(1)
        labelled = LABELLED.findall(prompt)
        if len(labelled) == 2:
            return self.prefer(query, labelled[0][1], labelled[1][1])
        if labelled:
            order = self.order(query, [text for _, text in labelled])
            return " > ".join(f"[{labelled[i][0]}]" for i in order)
        return self.grade(query, SINGLE.search(prompt).group(1))

    def order(self, query: str, texts: list[str]) -> list[int]:
        """Positions of `texts` from most to least relevant, as this judge perceives them."""
        scale = max(min(len(texts), 20) - 1, 1)
        return sorted(range(len(texts)), key=lambda n: (
            -(self.perceived(query, texts[n]) - self.position_bias * n / scale), n))

    def prefer(self, query: str, first: str, second: str) -> dict:
        """A pairwise answer, "[1]" or "[2]", with log-probabilities for the label token;
        the second passage shown loses the whole position bias."""
        margin = self.perceived(query, first) - (self.perceived(query, second)
                                                 - self.position_bias)
        p_first = min(max(1 / (1 + math.exp(-2 * margin)), 1e-6), 1 - 1e-6)
        label = "1" if p_first >= 0.5 else "2"
        alternatives = [{"token": "1", "logprob": math.log(p_first)},
                        {"token": "2", "logprob": math.log(1 - p_first)}]
        bracket = {"token": "[", "logprob": 0.0, "top_logprobs": [{"token": "[", "logprob": 0.0}]}
        return {"content": f"[{label}]", "logprobs": [
            bracket, {"token": label, "logprob": max(a["logprob"] for a in alternatives),
                      "top_logprobs": alternatives},
            {"token": "]", "logprob": 0.0, "top_logprobs": [{"token": "]", "logprob": 0.0}]}]}

    def rank_documents(self, body: dict) -> str:
        """LangChain's structured-output listwise prompt: JSON with ranked document ids."""
        system = body["messages"][0]["content"]
        query = first_user_prompt(body)
        documents = DOCUMENT.findall(system)
        order = self.order(query, [text for _, text in documents])
        return json.dumps({"ranked_document_ids": [int(documents[i][0]) for i in order]})

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


def previous_topic(history: str, question: str) -> str:
    """A condenser that knows only words: the follow-up, then the first earlier question."""
    earlier = re.search(r"^User: (.*)$", history, re.M)
    return f"{question} ({earlier.group(1)})" if earlier else question


class ScriptedModel:
    """A chat model for the graph's prompts: rerank prompts go to `judge`; condense prompts
    get `condense(history, question)`; rewrite prompts get `rewrite(query)`; answer prompts
    get `answer(question, passages)`; with tools bound, the first turn calls `retrieve` with
    the standalone question (unless `needs_documents(question)` is false)."""

    def __init__(self, judge: Judge, *,
                 answer: Callable[[str, str], str] = lambda q, p: "From the documents [1].",
                 rewrite: Callable[[str], str] = lambda query: f"{query} explained",
                 condense: Callable[[str, str], str] = previous_topic,
                 needs_documents: Callable[[str], bool] = lambda question: True) -> None:
        self.judge, self.answer, self.rewrite = judge, answer, rewrite
        self.condense, self.needs_documents = condense, needs_documents

    def __call__(self, body: dict) -> str | dict:
        messages = body["messages"]
        if "<passage>" in first_user_prompt(body) or body.get("format"):
            return self.judge(body)
        last = messages[-1]["content"]
        if condensing := CONDENSE.search(last):
            return self.condense(*condensing.groups())
        if last.startswith("A search of the user's documents"):
            return self.rewrite(re.search(r"Last query: (.*)\n", last).group(1))
        if body.get("tools"):
            question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            standalone = STANDALONE.search(messages[0]["content"])
            query = standalone.group(1) if standalone else question
            answered = messages[-1]["role"] == "tool"
            if not answered and self.needs_documents(question):
                return {"content": "", "tool_calls": [("retrieve", {"query": query})]}
            passages = messages[-1]["content"] if answered else ""
            return self.answer(question, passages) if answered else "Hello! No documents needed."
        question = re.search(r"Question: (.*)\n", last).group(1)
        return self.answer(question, last.split("Passages:", 1)[1])
