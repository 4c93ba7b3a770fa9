"""The `rankwise` command. Heavy libraries load inside the commands, so `--help` is quick."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional, cast

import typer
from rankwise.tools.core.vocabulary import (  # Literals: typer offers their values as choices
    MAX_SEARCH_K,
    SEARCH_MODES,
    STRATEGIES,
    GraphMode,
    SearchMode,
    Strategy,
    require_text,
)

app = typer.Typer(
    name="rankwise",
    help="Ingest documents into Milvus, search them, rerank with an LLM, and answer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _one_of(choices: tuple[str, ...]) -> Any:
    """A parser for a repeatable choice option: a value not among `choices` is a usage
    error naming them."""
    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


_FILTER = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(!=|>=|<=|=|>|<)\s*(.*)$", re.S)
_OPS = {"=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}


def parse_filters(items: list[str]) -> dict[str, Any] | None:
    """`key=value`, `key>=3` ... or a JSON object, into a typed filter mapping."""
    spec: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                value = json.loads(item)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"{item!r} is not a JSON object ({exc.msg})",
                                         param_hint="--filter") from None
            if not isinstance(value, dict):
                raise typer.BadParameter(f"{item!r} is not a JSON object", param_hint="--filter")
            spec.update(value)
            continue
        match = _FILTER.match(item)
        if not match:
            raise typer.BadParameter(
                f"{item!r}: write KEY=VALUE, KEY!=VALUE, KEY>=N ... or a JSON object",
                param_hint="--filter",
            )
        key, op, raw = match.groups()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, (dict, list)) or value is None:
            value = raw
        spec.setdefault(key, {})[_OPS[op]] = value
    return spec or None


class _Options:
    """Settings overrides shared by every command."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = {k: v for k, v in overrides.items() if v is not None}

    def settings(self, **more: Any):
        from rankwise.tools import Settings

        return Settings(**self.overrides, **{k: v for k, v in more.items() if v is not None})


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(text: str, *, one_line: bool = False) -> str:
    """`text` safe to print on a terminal: control characters (escape sequences that could
    retitle the window or rewrite the screen) written as `\\x1b`; with `one_line`, line
    breaks and tabs too, so a file name stays one line."""
    pattern = _CONTROL_OR_NEWLINE if one_line else _CONTROL
    return pattern.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def _fail(message: str) -> None:
    typer.secho(f"error: {shown(message, one_line=True)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _echo_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        typer.secho(f"warning: {shown(warning, one_line=True)}", fg=typer.colors.YELLOW,
                    err=True)


def _echo_sources(hits: list[dict[str, Any]]) -> None:
    """'Sources:' then one line per passage: [n] (when cited) source#chunk, id, score."""
    if hits:
        typer.secho("\nSources:", bold=True)
    for hit in hits:
        number = f"[{hit['n']}] " if "n" in hit else ""
        typer.echo(f"  {number}{shown(hit['source'], one_line=True)}#{hit['chunk_index']}"
                   f"  id={hit['id']}  "
                   f"score={hit['score']:.3f}")


def _run(ctx: typer.Context, action) -> Any:
    """Run a command body, turning rankwise's own errors into one clear line and exit 1."""
    from pydantic import ValidationError
    from rankwise.tools import RankwiseError

    try:
        return action()
    except (RankwiseError, FileNotFoundError) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail("invalid setting: " + "; ".join(map(_setting_error, exc.errors())))


def _setting_error(error: Any) -> str:
    """One settings error, named by the variable that sets it (RANKWISE_SEARCH_MODE: ...)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = str(error["loc"][0]).upper()  # a field, or the alias that was read
    variable = name if name.startswith("RANKWISE_") or name == "OLLAMA_HOST" else (
        f"RANKWISE_{name}")
    return f"{variable}: {message}"


@app.callback()
def _main(
    ctx: typer.Context,
    ollama_host: Annotated[Optional[str], typer.Option(
        help="Ollama URL \\[env: OLLAMA_HOST]")] = None,
    milvus_uri: Annotated[Optional[str], typer.Option(
        help="Milvus Lite file or server URL \\[env: RANKWISE_MILVUS_URI]")] = None,
    collection: Annotated[Optional[str], typer.Option(
        help="Collection name \\[env: RANKWISE_COLLECTION]")] = None,
    embed_model: Annotated[Optional[str], typer.Option(
        help="Embedding model, provider:model \\[env: RANKWISE_EMBED_MODEL]")] = None,
    chat_model: Annotated[Optional[str], typer.Option(
        help="Chat model, provider:model \\[env: RANKWISE_CHAT_MODEL]")] = None,
    base_url: Annotated[Optional[str], typer.Option(
        help="Base URL of a non-Ollama provider \\[env: RANKWISE_BASE_URL]")] = None,
) -> None:
    ctx.obj = _Options(ollama_host=ollama_host, milvus_uri=milvus_uri, collection=collection,
                       embed_model=embed_model, chat_model=chat_model, base_url=base_url)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files and directories to ingest.")],
    include: Annotated[list[str], typer.Option("--include", "-i",
                                               help="Glob of files to take (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", "-x",
                                               help="Glob of files to skip (repeatable).")] = [],
    prune: Annotated[bool, typer.Option(help="Remove chunks of files no longer there.")] = False,
    chunk_size: Annotated[Optional[int], typer.Option(help="Tokens per chunk.")] = None,
    chunk_overlap: Annotated[Optional[int], typer.Option(help="Overlap in tokens.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Chunk, embed and store files; unchanged files cost nothing on a re-run."""
    from rankwise.tools import KnowledgeBase

    from .progress import ingest_progress

    def action() -> None:
        kb = KnowledgeBase(ctx.obj.settings(chunk_size=chunk_size, chunk_overlap=chunk_overlap))
        with ingest_progress(quiet) as progress:
            report = kb.ingest(paths, include=include, exclude=exclude, prune=prune,
                               progress=progress)
        for kind, messages in (("skipped", report.skipped), ("failed", report.failed)):
            for message in messages:
                typer.secho(f"{kind}: {shown(message, one_line=True)}",
                            fg=typer.colors.YELLOW, err=True)
        typer.echo(report.summary())
        _echo_warnings(report.warnings)
        if not report.complete:
            raise typer.Exit(1)

    _run(ctx, action)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=MAX_SEARCH_K,
                                   help="How many chunks.")] = 5,
    filter: Annotated[list[str], typer.Option(
        "--filter", "-f", help="KEY=VALUE, KEY>=N, ... or a JSON object (repeatable).")] = [],
    mode: Annotated[Optional[SearchMode], typer.Option(
        help="hybrid (dense + BM25), dense or lexical (BM25) \\[env: RANKWISE_SEARCH_MODE]",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Search the knowledge base and print the best chunks."""
    from rankwise.tools import KnowledgeBase

    spec = parse_filters(filter)

    def action() -> None:
        require_text(query)  # the argument first, before any I/O
        kb = KnowledgeBase(ctx.obj.settings())
        kb.require_collection()
        hits = kb.search(query, k, spec, mode=mode)
        if as_json:
            typer.echo(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
            return
        if not hits:
            typer.echo("No matching chunks.")
        for n, hit in enumerate(hits, start=1):
            typer.secho(f"[{n}] {hit.score:.3f} {hit.scored_by}  "
                        f"{shown(hit.source, one_line=True)}#{hit.chunk_index}  id={hit.id}",
                        bold=True)
            typer.echo(shown(hit.text.strip()) + "\n")

    _run(ctx, action)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    rerank: Annotated[Optional[Strategy], typer.Option(
        help="pointwise, listwise, tournament, pairwise, cross_encoder (a rerank model at "
        "RANKWISE_RERANK_URL) or none \\[env: RANKWISE_RERANK_STRATEGY]")] = None,
    mode: Annotated[GraphMode, typer.Option(
        help="pipeline, or agentic (the model decides).")] = "pipeline",
    stream: Annotated[bool, typer.Option(help="Print the answer as it is written.")] = False,
    thread: Annotated[Optional[str], typer.Option(
        help="Conversation id: follow-ups on it see the earlier turns (kept in threads_db).")
    ] = None,
) -> None:
    """Answer a question from the knowledge base, then list its sources."""
    from contextlib import nullcontext

    from rankwise.graphs import ask as ask_graph
    from rankwise.graphs import build_graph, stream_ask
    from rankwise.graphs.conversations import conversation_lock, sqlite_conversations
    from rankwise.tools import KnowledgeBase

    def action() -> None:
        settings = ctx.obj.settings()
        held = conversation_lock(thread, settings.threads_db) if thread else nullcontext()
        saver = sqlite_conversations(settings.threads_db) if thread else nullcontext()
        require_text(question, "question")
        kb = KnowledgeBase(settings)
        kb.require_collection()
        with saver as checkpointer, held:  # the path is checked before its lock is made
            graph = build_graph(kb, mode=mode, rerank=rerank,
                                checkpointer=checkpointer)
            if stream:
                answer = stream_ask(question, graph, thread_id=thread,
                                    on_token=lambda t: typer.echo(shown(t), nl=False))
                typer.echo()
            else:
                answer = ask_graph(question, graph, thread_id=thread)
                typer.echo(shown(answer.text))
        _echo_sources(answer.citations)
        _echo_warnings(answer.warnings)

    _run(ctx, action)


@app.command()
def graph(
    ctx: typer.Context,
    mode: Annotated[GraphMode, typer.Option(help="pipeline or agentic.")] = "pipeline",
) -> None:
    """Print the LangGraph state machine as Mermaid (no network needed)."""
    from rankwise.graphs import build_graph, to_mermaid
    from rankwise.tools import KnowledgeBase

    typer.echo(_run(ctx, lambda: to_mermaid(
        build_graph(KnowledgeBase(ctx.obj.settings()), mode=mode))))


@app.command("crew")
def crew_command(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question for the crew.")],
) -> None:
    """Run the ready-made CrewAI crew (researcher + writer); needs rankwise\\[crewai]."""
    import os

    for name, value in (("CREWAI_DISABLE_TELEMETRY", "true"), ("OTEL_SDK_DISABLED", "true"),
                        ("CREWAI_TRACING_ENABLED", "false")):
        os.environ.setdefault(name, value)  # nothing leaves the machine unless asked
    try:
        from rankwise.agents import KnowledgeCrew
    except ImportError:
        _fail("CrewAI is an optional extra: pip install 'rankwise[crewai]'")
    from rankwise.tools import KnowledgeBase

    def action() -> None:
        answer = KnowledgeCrew(KnowledgeBase(ctx.obj.settings())).ask(question)
        typer.echo(shown(answer.text))
        _echo_sources(answer.sources)

    _run(ctx, action)


@app.command("eval")
def evaluate_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(
        help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.")],
    rerank: Annotated[list[str], typer.Option(
        parser=_one_of(STRATEGIES),
        help="none, pointwise, listwise, tournament, pairwise, cross_encoder (repeatable; "
        "RANKWISE_RERANK_PRE=cross_encoder puts the rerank model before the LLM ones).")
    ] = ["none"],
    search: Annotated[Optional[list[str]], typer.Option(
        parser=_one_of(SEARCH_MODES),
        help="hybrid, dense, lexical (repeatable; default dense and hybrid).")] = None,
    top_n: Annotated[int, typer.Option(min=1, help="Candidates per query.")] = 20,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Cut-off of Recall@k.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Measure retrieval and rerank quality (nDCG@10, Recall@k, MRR@10) and cost."""
    from rankwise.tools import evaluate, load_beir

    from .progress import evaluation_progress

    # typer takes a Literal for one value, not a list of them: `_one_of` checks each
    searches = cast(list[SearchMode], search or ["dense", "hybrid"])
    if not search:
        typer.echo("searching dense and hybrid (the default; --search picks)", err=True)

    def action() -> Any:
        with evaluation_progress(quiet or as_json) as progress:
            return evaluate(load_beir(dataset), ctx.obj.settings(), searches=searches,
                            reranks=cast(list[Strategy], rerank), top_n=top_n, k=k,
                            progress=progress)

    report = _run(ctx, action)
    if report.leg_report:
        typer.echo(f"search legs: {shown(report.leg_report, one_line=True)}", err=True)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        raise typer.Exit(1 if report.failures else 0)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.dataset}: {report.queries} judged queries, top-{top_n}")
    for column in ("configuration", "nDCG@10", f"Recall@{k}", "MRR@10", "LLM calls/q",
                   "unreadable", "round trips/q", "tokens/q", "s/query"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for row in report.results:
        table.add_row(row.name, f"{row.ndcg_at_10:.4f}", f"{row.recall_at_k:.4f}",
                      f"{row.mrr_at_10:.4f}", f"{row.llm_calls:.1f}",
                      f"{row.unreadable_replies:.0%}" if row.llm_calls else "",
                      f"{row.round_trips:.1f}", f"{row.tokens:.0f}", f"{row.seconds:.3f}")
    console = Console()
    (console if console.is_terminal else Console(width=130)).print(table)
    typer.echo(f"qrels naming unknown documents: {report.unknown_documents}, unknown queries: "
               f"{report.unknown_queries}; ingest {report.ingest_seconds:.1f} s, "
               f"total {report.seconds:.1f} s")
    for row in report.results:
        for warning in row.warnings():
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    for name, reason in report.failures.items():
        typer.secho(f"error: {name} could not be measured: {shown(reason, one_line=True)}",
                    fg=typer.colors.RED, err=True)
    if report.failures:
        raise typer.Exit(1)


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check Ollama, the models, the embedding dimension and the Milvus store."""
    from rankwise.tools import run_checks

    checks = _run(ctx, lambda: run_checks(ctx.obj.settings()))
    for check in checks:
        mark = (typer.style("ok  ", fg=typer.colors.GREEN) if check.ok
                else typer.style("skip", fg=typer.colors.YELLOW) if check.skipped
                else typer.style("FAIL", fg=typer.colors.RED))
        typer.echo(f"{mark} {check.name}: {shown(check.detail, one_line=True)}")
        if check.fix:
            typer.echo(f"     fix: {check.fix}")
    if any(c.failed for c in checks):
        raise typer.Exit(1)


@app.command("mcp")
def mcp_command(
    ctx: typer.Context,
    http: Annotated[Optional[str], typer.Option(
        "--http", metavar="[HOST:]PORT",
        help="Serve streamable HTTP at http://HOST:PORT/mcp (host 127.0.0.1 unless given) "
             "instead of stdio.")] = None,
    token: Annotated[Optional[str], typer.Option(
        help="Bearer token every HTTP client must send \\[env: RANKWISE_MCP_TOKEN].")] = None,
    insecure: Annotated[bool, typer.Option(
        help="Serve a non-loopback address without a token (a trusted network only).")
    ] = False,
    admin: Annotated[bool, typer.Option(
        help="Also serve list_sources and delete (clients may delete documents).")] = False,
    ingest_root: Annotated[Optional[list[Path]], typer.Option(
        file_okay=False, exists=True,
        help="Also serve ingest, of files under this folder (repeatable) \\[env: "
             "RANKWISE_INGEST_ROOTS, a JSON list].")] = None,
) -> None:
    """Serve retrieve, rerank and ask_knowledge_base to MCP hosts (stdio, or --http)."""
    import os

    from .extras import extra_problem

    if problem := extra_problem("mcp", "mcp"):
        _fail(f"the MCP server cannot start: {problem}")
    from .mcp import (
        build_server,
        check_exposure,
        check_token,
        http_app,
        parse_address,
        serve_stdio,
        transport_security,
    )
    try:
        address = parse_address(http) if http is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--http") from None
    try:  # an empty variable is a mistake, not "no token": read it ourselves
        secret = check_token(token if token is not None else os.environ.get("RANKWISE_MCP_TOKEN"))
        if address is not None:
            check_exposure(address[0], secret, insecure)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--token") from None

    def action() -> None:
        import anyio
        from langgraph.checkpoint.memory import InMemorySaver
        from rankwise.graphs import AskKnowledgeBaseTool, build_graph
        from rankwise.tools import KnowledgeBase, RankwiseToolkit, Reranker

        settings = ctx.obj.settings()
        kb = KnowledgeBase(settings)
        kb.count()  # opens the store now: a locked file is one line before any client waits
        reranker = Reranker(settings)
        toolkit = RankwiseToolkit(knowledge_base=kb, reranker=reranker, admin=admin,
                                  ingest_roots=ingest_root or settings.ingest_roots)
        server = build_server([
            *toolkit.get_tools(),
            AskKnowledgeBaseTool(graph=build_graph(kb, reranker=reranker,
                                                   checkpointer=InMemorySaver())),
        ])
        if address is None:
            anyio.run(serve_stdio, server)
            return
        import uvicorn

        host, port = address
        typer.echo(f"rankwise mcp: serving http://{host}:{port}/mcp", err=True)
        uvicorn.run(http_app(server, secret, transport_security(host, port)), host=host,
                    port=port, log_level="warning")

    _run(ctx, action)


def main() -> None:
    app(prog_name="rankwise")


if __name__ == "__main__":
    main()
