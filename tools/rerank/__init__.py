"""rankwise.tools.rerank: reorder retrieved passages with an Ollama chat model."""

from .parsing import PermutationOutcome, expected_grade, parse_grade, parse_permutation
from .prompts import RerankPrompts
from .reranker import CallRecord, RankedHit, Reranker, RerankResult, Strategy
from .tool import RerankInput, RerankTool

__all__ = [
    "CallRecord",
    "PermutationOutcome",
    "RankedHit",
    "RerankInput",
    "RerankPrompts",
    "RerankResult",
    "RerankTool",
    "Reranker",
    "Strategy",
    "expected_grade",
    "parse_grade",
    "parse_permutation",
]
