"""Errors that name the problem and its fix."""

from __future__ import annotations


class RankwiseError(Exception):
    """Base class for every error rankwise raises on purpose."""


class InvalidArgumentError(RankwiseError, ValueError):
    """An argument is out of range or not one of its choices; raised before any I/O."""


class ModelUnavailableError(RankwiseError, ConnectionError):
    """A model server could not be reached, or kept failing, after bounded retries."""


class OllamaUnavailableError(ModelUnavailableError):
    """Ollama could not be reached, or kept failing, after bounded retries."""


class ModelNotFoundError(RankwiseError, LookupError):
    """The requested model does not exist on its server (for Ollama: not pulled)."""


class ModelRequestError(RankwiseError, ValueError):
    """A model server rejected a request (a 4xx other than a missing model)."""


class InvalidVectorError(ModelRequestError):
    """A model returned a vector that cannot be stored: not finite, all zeros, or of
    another length than the rest."""


class OllamaRequestError(ModelRequestError):
    """Ollama rejected a request (a 4xx other than a missing model)."""


class ProviderNotInstalledError(RankwiseError, ImportError):
    """A model names a provider whose LangChain package is not installed."""


class StoreLockedError(RankwiseError, RuntimeError):
    """The Milvus Lite file is held by another process."""


class StoreError(RankwiseError, RuntimeError):
    """The Milvus store cannot be opened or used."""


class StoreUnavailableError(StoreError):
    """The Milvus server stopped answering, or could not load the collection, in time."""


class CollectionNotFoundError(StoreError):
    """There is nothing to search yet: no Milvus Lite file, or no collection in it."""


class DimensionMismatchError(RankwiseError, ValueError):
    """Vectors do not fit the collection (another model or dimension made it)."""


class AnalyzerMismatchError(RankwiseError, ValueError):
    """The collection's BM25 terms were analysed for another language or analyser version."""


class EmptyQueryError(RankwiseError, ValueError):
    """A query is empty or only whitespace."""


class FilterError(RankwiseError, ValueError):
    """A search filter is malformed."""


class UnreadableFileError(RankwiseError, ValueError):
    """A file that cannot be ingested; the message says why and what to do."""


class DatasetError(RankwiseError, ValueError):
    """A dataset file is missing or malformed; the message names the file and line."""
