"""mkdocs hooks: the configuration table is generated from `Settings`, so it cannot drift.

A page that holds the marker line gets the table in its place; `tests/test_docs.py`
checks that the README's shorter table is made of the same rows.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from rankwise.tools import Settings

MARKER = "<!-- settings-table -->"
HEADER = ["| Setting | Environment variable | Default | Meaning |", "|---|---|---|---|"]


def variables(name: str, field: FieldInfo) -> list[str]:
    """The environment variables that set `name`, as pydantic-settings reads them."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [str(choice).upper() for choice in alias.choices]
        return ["OLLAMA_HOST" if n == name.upper() else n for n in names][::-1]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def default(field: FieldInfo) -> str:
    value: Any = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    return "none" if value is None else f"`{value}`"


def row(name: str) -> str:
    """The table's row for the setting `name`."""
    field = Settings.model_fields[name]
    names = " or ".join(f"`{v}`" for v in variables(name, field))
    meaning = (field.description or "").replace("|", "\\|")
    return f"| `{name}` | {names} | {default(field)} | {meaning} |"


def settings_table() -> str:
    return "\n".join([*HEADER, *(row(name) for name in Settings.model_fields)])


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, settings_table())
