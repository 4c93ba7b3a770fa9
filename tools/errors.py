"""Errors that name the problem and its fix."""

from __future__ import annotations


class RankwiseError(Exception):
    """Base class for every error rankwise raises on purpose."""


class OllamaUnavailableError(RankwiseError, ConnectionError):
    """Ollama could not be reached, or kept failing, after bounded retries."""


class ModelNotFoundError(RankwiseError, LookupError):
    """The requested model is not pulled on the Ollama server."""


class OllamaRequestError(RankwiseError, ValueError):
    """Ollama rejected a request (a 4xx other than a missing model)."""


class StoreLockedError(RankwiseError, RuntimeError):
    """The Milvus Lite file is held by another process."""


class StoreError(RankwiseError, RuntimeError):
    """The Milvus store cannot be opened or used."""


class DimensionMismatchError(RankwiseError, ValueError):
    """Vectors do not fit the collection (another model or dimension made it)."""


class EmptyQueryError(RankwiseError, ValueError):
    """A query is empty or only whitespace."""


class FilterError(RankwiseError, ValueError):
    """A search filter is malformed."""
