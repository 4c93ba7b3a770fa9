"""rankwise.agents: rankwise's tools for CrewAI crews (needs the `crewai` extra).

Importing this package imports crewai; `rankwise.tools` and `rankwise.graphs` never do.
"""

from .adapter import LangChainTool
from .crew import CrewAnswer, KnowledgeCrew
from .knowledge import KnowledgeBaseSource, KnowledgeBaseStorage, use_knowledge_base

__all__ = ["CrewAnswer", "KnowledgeBaseSource", "KnowledgeBaseStorage", "KnowledgeCrew",
           "LangChainTool", "use_knowledge_base"]
