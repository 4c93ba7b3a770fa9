"""The task prompts each embedding model was trained with (from the model cards).

Models such as nomic-embed-text expect `search_query: ` before a query and
`search_document: ` before an indexed text; Ollama adds neither, so rankwise does.
"""

from __future__ import annotations

_RETRIEVAL = "Represent this sentence for searching relevant passages: "

# (name prefix, query prefix, document prefix), most specific first.
_KNOWN: list[tuple[str, str, str]] = [
    ("nomic-embed-text", "search_query: ", "search_document: "),
    ("mxbai-embed-large", _RETRIEVAL, ""),
    ("snowflake-arctic-embed2", "query: ", ""),
    ("snowflake-arctic-embed", _RETRIEVAL, ""),
    ("bge-m3", "", ""),
    ("bge-", _RETRIEVAL, ""),
    ("multilingual-e5", "query: ", "passage: "),
    ("e5-", "query: ", "passage: "),
]


def default_prefixes(model: str) -> tuple[str, str]:
    """(query prefix, document prefix) for `model`; empty for models that need none."""
    base = model.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    for name, query, document in _KNOWN:
        if base.startswith(name):
            return query, document
    return "", ""
