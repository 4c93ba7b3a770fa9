"""rankwise.agents: rankwise's tools for CrewAI crews (needs the `crewai` extra).

Importing this package imports crewai; `rankwise.tools` and `rankwise.graphs` never do.
"""

from .adapter import LangChainTool
from .crew import CrewAnswer, KnowledgeCrew

__all__ = ["CrewAnswer", "KnowledgeCrew", "LangChainTool"]
