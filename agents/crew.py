"""A ready-made crew: a researcher with rankwise's tools and a writer who cites.

Defined the CrewAI way (`@CrewBase`, `config/agents.yaml`, `config/tasks.yaml`); its LLM
is Ollama through crewai's `LLM` (model `ollama/<chat_model>`, base URL `OLLAMA_HOST`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crewai import LLM, Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from rankwise.tools import KnowledgeBase, Reranker, RerankTool, RetrieveTool

from .adapter import LangChainTool


@dataclass
class CrewAnswer:
    text: str
    sources: list[dict[str, Any]]


@CrewBase
class KnowledgeCrew:
    """Researcher (retrieve, rerank) then writer, in sequence."""

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    def __init__(self, knowledge_base: KnowledgeBase | None = None,
                 reranker: Reranker | None = None) -> None:
        kb = knowledge_base or KnowledgeBase()
        settings = kb.settings
        self.tools = [
            LangChainTool.wrap(RetrieveTool(knowledge_base=kb, k=settings.rerank_top_k)),
            LangChainTool.wrap(RerankTool(knowledge_base=kb,
                                          reranker=reranker or Reranker(settings),
                                          top_n=settings.rerank_top_n)),
        ]
        self.llm = LLM(model=f"ollama/{settings.chat_model}", base_url=settings.ollama_host,
                       temperature=0)

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
        """Every passage the tools returned during the run, deduplicated by id."""
        found: dict[str, dict[str, Any]] = {}
        for adapter in self.tools:
            for artifact in adapter.artifacts.values():
                hits = artifact["hits"] if isinstance(artifact, dict) else artifact
                for hit in hits:
                    found.setdefault(hit["id"], hit)
        return list(found.values())

    def ask(self, question: str) -> CrewAnswer:
        """Run the crew on one question; the answer and the passages its tools saw."""
        output = self.crew().kickoff(inputs={"question": question})
        return CrewAnswer(text=output.raw, sources=self.sources())
