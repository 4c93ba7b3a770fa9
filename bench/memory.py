"""Peak memory of ingesting 50,000 chunks, against Milvus Lite alone storing as many rows.

The corpus (trec-dl19-subset passages, repeated with a counter so that every chunk is
new) is written as files, then ingested by `KnowledgeBase.ingest` in a child process
whose peak RSS is read from the kernel. The anchor is a child process that only inserts
the same number of rows of the same size into the same schema, flushing every 1,024
rows as rankwise's ingest does: what the embedded store costs by itself. The embedding
server runs in its own process.

    python bench/memory.py [--chunks 50000] [--dim 768]
    python bench/memory.py --one-file 50     # one 50 MB text file, ingested twice

With `--one-file MB`, one text file of that size (passages in paragraphs) is ingested at the
default settings, then again unchanged: the time and peak memory of each run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _support import corpus, ollama_server
from rankwise.tools import Settings
from rankwise.tools.core.chunking import estimate_tokens

INGEST = """
import json, resource, sys
from rankwise.tools import KnowledgeBase, Settings
settings = Settings(ollama_host=sys.argv[1], milvus_uri=sys.argv[2],
                    chunk_size=int(sys.argv[4]), chunk_overlap=int(sys.argv[5]))
report = KnowledgeBase(settings).ingest([sys.argv[3]])
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"chunks": report.added + report.unchanged, "seconds": report.seconds,
                  "peak_mb": peak_mb}))
"""

STORE_ALONE = """
import json, random, resource, sys, time
from rankwise.tools import Settings
from rankwise.tools.adapters.milvus import MilvusStore
from rankwise.tools.services.ingest import _FLUSH_EVERY_ROWS as EVERY
rows, dim = int(sys.argv[3]), int(sys.argv[4])
store = MilvusStore(Settings(milvus_uri=sys.argv[2]), {"provider": "bench", "model": "random"})
started = time.perf_counter()
for start in range(0, rows, EVERY):
    store.insert([{"id": str(n), "vector": [random.random() for _ in range(dim)],
                   "text": "x" * 700, "source": f"part{n // 100}", "chunk_index": n % 100,
                   "metadata": {"file_type": "text"}}
                  for n in range(start, min(start + EVERY, rows))])
    store.flush()
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"chunks": rows, "seconds": time.perf_counter() - started,
                  "peak_mb": peak_mb}))
"""


def write_corpus(root: Path, chunks: int, per_file: int = 100) -> int:
    """Files of 700-character passages; the chunk size (tokens) that fits one, never two."""
    passages = [row["text"] for row in corpus()]
    sizes = []
    for start in range(0, chunks, per_file):
        texts = [f"{n}: {(passages[n % len(passages)] * 8)[:700]}"
                 for n in range(start, min(start + per_file, chunks))]
        sizes += map(estimate_tokens, texts)
        (root / f"part{start // per_file:05d}.txt").write_text("\n\n".join(texts))
    assert max(sizes) < 2 * min(sizes), "passages too uneven for one chunk each"
    return max(sizes)


def write_one_file(path: Path, megabytes: float) -> None:
    passages = [row["text"] for row in corpus()]
    with path.open("w", encoding="utf-8") as out:
        n = 0
        while out.tell() < megabytes * 1e6:
            out.write(f"{n}: {passages[n % len(passages)]}\n\n")
            n += 1


def one_file(megabytes: float, dim: int) -> None:
    with ollama_server("--dim", str(dim)) as url, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "big.txt")
        write_one_file(path, megabytes)
        defaults = Settings()
        sizes = str(defaults.chunk_size), str(defaults.chunk_overlap)
        first = run(INGEST, url, str(Path(tmp, "kb.db")), str(path), *sizes)
        again = run(INGEST, url, str(Path(tmp, "kb.db")), str(path), *sizes)
    print(f"one {megabytes:g} MB file, {first['chunks']} chunks ({dim}-d): first ingest "
          f"{first['seconds']:.1f} s, peak {first['peak_mb']:.0f} MB; unchanged re-ingest "
          f"{again['seconds']:.1f} s ({again['seconds'] / first['seconds']:.3f}x), peak "
          f"{again['peak_mb']:.0f} MB")


def run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension")
    parser.add_argument("--one-file", type=float, metavar="MB",
                        help="one text file of this size instead, ingested twice")
    options = parser.parse_args()
    if options.one_file:
        one_file(options.one_file, options.dim)
        return
    with ollama_server("--dim", str(options.dim)) as url, tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp, "files")
        files.mkdir()
        chunk_size = write_corpus(files, options.chunks)
        anchor = run(STORE_ALONE, url, str(Path(tmp, "anchor.db")), str(options.chunks),
                     str(options.dim))
        measured = run(INGEST, url, str(Path(tmp, "kb.db")), str(files), str(chunk_size), "0")
    print(f"peak memory, ingest of {measured['chunks']} chunks ({options.dim}-d) from "
          f"{options.chunks // 100} files in {measured['seconds']:.0f} s: "
          f"{measured['peak_mb']:.0f} MB (goal < 1024 MB)")
    print(f"  anchor, Milvus Lite alone inserting {anchor['chunks']} rows: "
          f"{anchor['peak_mb']:.0f} MB; rankwise / anchor = "
          f"{measured['peak_mb'] / anchor['peak_mb']:.2f} x")


if __name__ == "__main__":
    main()
