"""Follow-up questions: retrieval with and without condensing them into a standalone question.

26 two-turn conversations over trec-dl19-subset (bench/data/conversations-trec-dl19.jsonl):
the follow-up is elliptical ("When was it founded?") and the judged TREC query is what it
means standing alone. Embeddings come from a real model (all-MiniLM-L6-v2 behind Ollama's
protocol, ../shared/realmodel); the condensing chat model is simulated: it knows only words,
and puts the conversation's first question after the follow-up, which a real LLM should beat.
Each follow-up goes through the rankwise graph on a thread (`ask`), as a user's would.

    python bench/conversations.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from _support import ROOT, corpus, qrels, queries, realmodel_server
from fake_ollama import FakeOllama
from judges import Judge, ScriptedModel, previous_topic
from langchain_core.documents import Document
from langchain_ollama import ChatOllama
from langgraph.checkpoint.memory import InMemorySaver
from rankwise.graphs import ask, build_graph
from rankwise.tools import KnowledgeBase, Settings
from rankwise.tools.core.metrics import ndcg_at_k, recall_at_k

CONVERSATIONS = ROOT / "bench" / "data" / "conversations-trec-dl19.jsonl"


def main() -> None:
    conversations = [json.loads(line) for line in CONVERSATIONS.read_text().splitlines()]
    judged, texts = qrels(), {q["_id"]: q["text"] for q in queries()}
    documents = [Document(page_content=row["text"], metadata={"source": row["_id"]})
                 for row in corpus()]
    with realmodel_server() as embed_url, FakeOllama() as chat_server, \
            tempfile.TemporaryDirectory() as tmp:
        chat_server.chat_reply = ScriptedModel(Judge(lambda q, p: 0.0), condense=previous_topic)
        # The real model is MiniLM served as "nomic-embed-text": it takes no task prompts.
        settings = Settings(ollama_host=embed_url, milvus_uri=str(Path(tmp, "kb.db")),
                            collection="conversations", query_prefix="", document_prefix="")
        kb = KnowledgeBase(settings)
        kb.add_documents(documents)
        chat = ChatOllama(model="llama3.2", base_url=chat_server.url)
        graph = build_graph(kb, chat_model=chat, rerank="none", top_n=20, top_k=20,
                            checkpointer=InMemorySaver())

        scores: dict[str, list[tuple[float, float]]] = {"follow-up as typed": [],
                                                         "condensed (graph, simulated LLM)": [],
                                                         "standalone TREC query": []}

        def score(label: str, sources: list[str], grades: dict[str, float]) -> None:
            ranking = list(dict.fromkeys(sources))
            scores[label].append((recall_at_k(ranking, grades, 5), ndcg_at_k(ranking, grades)))

        for n, talk in enumerate(conversations):
            grades = judged[talk["query_id"]]
            ask(talk["first"], graph, thread_id=str(n))
            answer = ask(talk["follow_up"], graph, thread_id=str(n))
            score("condensed (graph, simulated LLM)",
                  [c["source"] for c in answer.state["candidates"]], grades)
            for label, query in (("follow-up as typed", talk["follow_up"]),
                                 ("standalone TREC query", texts[talk["query_id"]])):
                score(label, [h.source for h in kb.search(query, 20)], grades)

    print(f"follow-up retrieval, {len(conversations)} two-turn conversations over "
          "trec-dl19-subset, all-MiniLM-L6-v2 embeddings, dense top-20")
    anchor = statistics.fmean(r for r, _ in scores["standalone TREC query"])
    for label, values in scores.items():
        recall = statistics.fmean(r for r, _ in values)
        ndcg = statistics.fmean(g for _, g in values)
        print(f"  {label:36s} recall@5 {recall:.4f}  nDCG@10 {ndcg:.4f}  "
              f"{recall / anchor:5.2f} x standalone recall@5")


if __name__ == "__main__":
    main()
