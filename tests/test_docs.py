"""The documentation stays true: the README's first answer and every code block marked
`<!-- runs -->` run, configuration tables are generated from `Settings`, tables stay
readable. (`mkdocs build --strict` in `.ci/run` checks links and references.)"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil

import pytest
from conftest import ROOT
from judges import Judge, ScriptedModel
from rankwise.cli.app import app
from rankwise.tools import Settings
from typer.testing import CliRunner

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"<!-- runs -->\n```(\w+)\n(.*?)\n```", re.S)


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runnable_blocks() -> list[tuple[str, str, str]]:
    return [(page.relative_to(ROOT).as_posix(), language, code)
            for page in PAGES for language, code in _BLOCK.findall(page.read_text())]


@pytest.fixture
def user_folder(tmp_path, monkeypatch, ollama):
    """A fresh folder holding the repository's examples, with Ollama's place taken by the
    test server (which serves the default models) and a judge that grades by shared words."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 3.0 if "backups" in p.lower() else 0.0),
                                      answer=lambda q, p: "They are kept for thirty days [1].")
    return tmp_path


def test_the_readme_and_docs_mark_code_that_runs():
    pages = {page for page, _, _ in runnable_blocks()}
    assert "README.md" in pages and "docs/getting-started.md" in pages


@pytest.mark.parametrize(("page", "language", "code"), runnable_blocks(),
                         ids=lambda value: value if value.endswith(".md") else "")
def test_a_block_marked_as_running_runs(page, language, code, user_folder, capsys):
    if language == "python":
        exec(compile(code, page, "exec"), {"__name__": "__docs__"})
        assert capsys.readouterr().out.strip(), f"{page}: the block printed nothing"
        return
    assert language == "bash", f"{page}: only python and bash blocks can be marked to run"
    defaults = {Settings().embed.name, Settings().chat.name}
    for line in code.splitlines():
        for command in filter(None, (c.strip() for c in line.split("#")[0].split("&&"))):
            words = shlex.split(command)
            if words[:2] == ["ollama", "pull"]:  # the test server serves the defaults
                assert words[2] in defaults, f"{page}: pulls {words[2]}, not a default model"
                continue
            assert words[0] == "rankwise", f"{page}: cannot run {command!r} here"
            result = CliRunner().invoke(app, words[1:])
            assert result.exit_code == 0, f"{page}: {command}\n{result.output}"


def test_the_readmes_first_answer_answers_from_the_examples(user_folder):
    readme = (ROOT / "README.md").read_text()
    first = readme.split("## A first answer", 1)[1].split("```bash\n", 1)[1].split("```")[0]
    commands = [shlex.split(line) for line in first.splitlines() if line.startswith("rankwise ")]
    assert [c[:2] for c in commands] == [["rankwise", "ingest"], ["rankwise", "ask"]]

    for command in commands:
        result = CliRunner().invoke(app, command[1:])
        assert result.exit_code == 0, result.output
    assert "thirty days [1]" in result.output and "backups.md" in result.output


def test_the_configuration_tables_are_generated_from_settings():
    hooks = _hooks()
    table = hooks.settings_table()
    assert all(f"| `{name}` |" in table for name in Settings.model_fields)
    assert hooks.MARKER in (ROOT / "docs" / "configuration.md").read_text()

    readme = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    assert len(rows) >= 8
    generated = set(table.splitlines())
    assert [row for row in rows if row not in generated] == [], "regenerate from Settings"


def test_the_readme_is_short_and_every_table_cell_is_readable():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("|"):
                cells = line.strip("|").split(" | ")
                assert max(map(len, cells)) <= 300, f"{page.name}:{number}: a cell too long"
