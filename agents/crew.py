"""A ready-made crew: a researcher with rankwise's tools and a writer who cites.

Defined the CrewAI way (`@CrewBase`, `config/agents.yaml`, `config/tasks.yaml`). Its LLM
is the one given, or crewai's `LLM` for the configured chat model: `ollama/<model>` on
`OLLAMA_HOST`, or `<provider>/<model>` with the configured base URL and key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crewai import LLM, Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from openai import APIConnectionError  # CrewAI's model client: a server down, a timeout
from rankwise.tools import (
    KnowledgeBase,
    ModelRequestError,
    ModelUnavailableError,
    RankwiseError,
    RankwiseToolkit,
    Reranker,
    Settings,
    chat_model,
)
from rankwise.tools.core.aio import run_sync
from rankwise.tools.core.vocabulary import require_text

from .adapter import LangChainTool


@dataclass
class CrewAnswer:
    text: str
    sources: list[dict[str, Any]]


@CrewBase
class KnowledgeCrew:
    """Researcher (retrieve, rerank) then writer, in sequence."""

    agents_config: Any = "config/agents.yaml"  # @CrewBase loads them into dicts
    tasks_config: Any = "config/tasks.yaml"

    def __init__(self, knowledge_base: KnowledgeBase | None = None,
                 reranker: Reranker | None = None, llm: LLM | str | None = None) -> None:
        kb = knowledge_base or KnowledgeBase()
        settings = kb.settings
        self.tools = [LangChainTool.wrap(tool) for tool in
                      RankwiseToolkit(knowledge_base=kb, reranker=reranker).get_tools()]
        self.llm = crew_llm(settings) if llm is None else llm
        # The configured model is checked before a kickoff: CrewAI reports a server that
        # is down as a page of "Failed to connect to OpenAI API", never naming it.
        self._preflight = chat_model(settings) if llm is None else None

    @agent
    def researcher(self) -> Agent:
        return Agent(config=self.agents_config["researcher"], tools=self.tools, llm=self.llm,
                     verbose=False)

    @agent
    def writer(self) -> Agent:
        return Agent(config=self.agents_config["writer"], llm=self.llm, verbose=False)

    @task
    def research(self) -> Task:
        return Task(config=self.tasks_config["research"])

    @task
    def answer(self) -> Task:
        return Task(config=self.tasks_config["answer"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential,
                    verbose=False)

    def sources(self) -> list[dict[str, Any]]:
        """Every passage the tools returned since the last question, deduplicated by id."""
        found: dict[str, dict[str, Any]] = {}
        for adapter in self.tools:
            for artifact in adapter.artifacts.values():
                for hit in artifact["hits"]:
                    found.setdefault(hit["id"], hit)
        return list(found.values())

    def ask(self, question: str) -> CrewAnswer:
        """Run the crew on one question; the answer and the passages its tools saw."""
        self._prepare(question)
        with self._one_line_failures():
            return self._answer(self.crew().kickoff(inputs={"question": question}))

    async def aask(self, question: str) -> CrewAnswer:
        """`ask` from async code (CrewAI's `kickoff_async`)."""
        await asyncio.to_thread(self._prepare, question)
        with self._one_line_failures():
            return self._answer(await self.crew().kickoff_async(inputs={"question": question}))

    def _answer(self, output: Any) -> CrewAnswer:
        """The crew's final answer (a whole `CrewOutput`: the crew does not stream)."""
        return CrewAnswer(text=output.raw, sources=self.sources())

    @contextmanager
    def _one_line_failures(self) -> Iterator[None]:
        """A kickoff that stops raises CrewAI's or its model client's own exception, which
        printed a page of traceback: it becomes one rankwise error."""
        try:
            yield
        except RankwiseError:
            raise
        except Exception as exc:
            raise self._named(exc) from exc

    def _named(self, exc: Exception) -> RankwiseError:
        """`exc` as the configured model's provider names it and its fix, as for every other
        call (from the exception or what CrewAI wrapped); else as it is."""
        if self._preflight is not None:
            for cause in (exc, exc.__cause__, exc.__context__):
                named = self._preflight.provider.translate(cause) if cause else None
                if isinstance(named, RankwiseError):
                    return type(named)(f"the crew stopped: {named}")
        said = next((line for line in str(exc).splitlines() if line.strip()), "")
        kind = (ModelUnavailableError if isinstance(exc, (ConnectionError, APIConnectionError))
                else ModelRequestError)
        return kind(f"the crew stopped: {type(exc).__name__}: {said}".rstrip(": "))

    def _prepare(self, question: str) -> None:
        require_text(question, "question")
        if self._preflight is not None:
            run_sync(self._preflight.provider.context_window())
        for adapter in self.tools:
            adapter.artifacts.clear()


def crew_llm(settings: Settings) -> LLM:
    """crewai's LLM for the configured chat model (crewai calls Ollama's /v1 API)."""
    ref = settings.chat
    if ref.is_ollama:
        return LLM(model=f"ollama/{ref.name}", base_url=settings.ollama_host, temperature=0)
    key = settings.openai_key(chat=True) if ref.provider == "openai" else (
        settings.api_key.get_secret_value() if settings.api_key else None)
    return LLM(model=f"{ref.provider}/{ref.name}", base_url=settings.served_at(chat=True),
               api_key=key, temperature=0, context_window_size=settings.chat_num_ctx)
