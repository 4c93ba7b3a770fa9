"""Hybrid search that never loses to its better leg: scores normalised on their theoretical
range, and each leg weighed by how well it reads the collection (the inverse cloze task)."""

from __future__ import annotations

import re

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from rankwise.tools import KnowledgeBase
from rankwise.tools.core.calibration import Calibration, cloze, lexical_share
from rankwise.tools.core.fusion import fuse

# Twelve one-line Chinese documents and six keywords, each found in one document only.
LINES = {
    "备份.md": "夜间备份在凌晨两点运行，备份文件保留三十天。",
    "密钥.md": "签名密钥每九十天轮换一次，旧密钥保留一周。",
    "食堂.md": "食堂周一供应汤，周五供应鱼，咖啡免费。",
    "安装.md": "使用包管理器安装软件，安装程序需要管理员权限。",
    "网络.md": "办公室无线网络的密码每月更换，访客另有网络。",
    "打印.md": "彩色打印机位于三楼，黑白打印机在每层都有。",
    "假期.md": "员工每年享有二十天带薪年假，可以结转五天。",
    "报销.md": "差旅报销需要在出差结束后十五天内提交发票。",
    "会议.md": "大会议室需要提前一天预订，小会议室随时可用。",
    "停车.md": "地下停车场为员工免费开放，访客车位在东侧。",
    "邮件.md": "邮件服务器每晚维护一小时，期间无法发送邮件。",
    "培训.md": "新员工入职第一周参加安全培训和产品培训。",
}
KEYWORDS = {"备份": "备份.md", "密钥": "密钥.md", "食堂": "食堂.md", "年假": "假期.md",
            "报销": "报销.md", "停车场": "停车.md"}


def chance_kb(settings) -> KnowledgeBase:
    """A knowledge base whose embeddings are unrelated to the text: a dense leg at chance."""
    kb = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=64))
    kb.add_texts(list(LINES.values()), [{"source": name} for name in LINES])
    return kb


def test_keywords_are_found_first_when_the_dense_leg_is_at_chance(settings):
    kb = chance_kb(settings)

    firsts = {word: kb.search(word, k=3, mode="hybrid")[0].source for word in KEYWORDS}

    assert firsts == KEYWORDS
    calibration = kb.store.calibration
    assert calibration is not None and calibration.weak_leg() == "dense"
    assert kb.fusion_shares()["lexical"] > 0.5


def test_the_leg_report_names_the_leg_that_cannot_read_the_collection(settings):
    kb = chance_kb(settings)

    report = kb.leg_report()

    assert report is not None and "does not read this collection well" in report
    assert "bge-m3" in report and "RANKWISE_SEARCH_MODE=lexical" in report
    warned = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=64),
                           collection="again").add_texts(list(LINES.values()))
    assert any("does not read this collection well" in w for w in warned.warnings)


def test_the_calibration_is_kept_with_the_collection_and_a_setting_overrides_it(settings):
    chance_kb(settings).close()

    reopened = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=64))
    assert reopened.store.calibration is not None
    assert reopened.fusion_shares()["lexical"] > 0.5
    fixed = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=64),
                          lexical_weight=0.2)
    assert fixed.fusion_shares() == {"dense": 0.8, "lexical": 0.2}


def test_a_collection_both_legs_read_keeps_the_default_shares(kb):
    kb.add_texts([f"The {word} team meets on {day} mornings. Everyone in {word} brings the "
                  f"{word} numbers to the {word} meeting." for word, day in
                  zip(["sales", "support", "design", "finance", "legal", "ops", "research",
                       "hiring", "security", "data"],
                      ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Monday",
                       "Tuesday", "Wednesday", "Thursday", "Friday"])])

    calibration = kb.store.calibration

    assert calibration is not None and calibration.weak_leg() is None
    assert abs(kb.fusion_shares()["dense"] - 0.7) < 0.15


def test_a_leg_whose_scores_barely_separate_moves_the_order_little():
    dense = [("a", 0.81), ("b", 0.80), ("c", 0.79), ("d", 0.55)]  # a model that cannot tell
    lexical = [("d", 12.0), ("c", 2.0)]  # BM25 finds one clear match

    fused = fuse({"dense": dense, "lexical": lexical}, {"dense": 0.7, "lexical": 0.3}, 4, 4)

    assert [f.id for f in fused][:2] == ["d", "c"]  # min-max would have put "a" first
    assert all(0 <= f.score <= 1 for f in fused)


def test_only_the_best_hit_of_both_legs_scores_one():
    fused = fuse({"dense": [("a", 0.9), ("b", 0.45)], "lexical": [("a", 8.0), ("b", 4.0)]},
                 {"dense": 0.7, "lexical": 0.3}, 2, 10)
    assert [round(f.score, 3) for f in fused] == [1.0, 0.5]


def test_a_hit_below_a_cut_list_scores_its_floor_and_one_past_a_short_list_zero():
    dense = [("a", 0.9), ("b", 0.6)]  # cut at depth 2: "c" ranked below "b"
    lexical = [("c", 5.0)]  # ended before depth 2: "a" and "b" matched nothing
    fused = {f.id: round(f.score, 3)
             for f in fuse({"dense": dense, "lexical": lexical}, {"dense": 0.5, "lexical": 0.5},
                           3, 2)}
    assert fused == {"a": 0.5, "b": round(0.5 * 0.6 / 0.9, 3), "c": round(0.5 * 0.6 / 0.9 + 0.5, 3)}


def test_a_models_floor_lets_a_narrow_band_of_high_cosines_lead():
    """multilingual-e5 scores unrelated text about 0.76: from a floor of 0 its clear lead
    (0.86 against 0.84) would look like a tie, and BM25's order would win."""
    dense = [("a", 0.86), ("b", 0.84), ("c", 0.79)]
    lexical = [("b", 10.0), ("a", 8.0), ("c", 7.5)]
    lists, weights = {"dense": dense, "lexical": lexical}, {"dense": 0.7, "lexical": 0.3}

    assert fuse(lists, weights, 3, 3)[0].id == "b"
    assert fuse(lists, weights, 3, 3, {"dense": 0.76})[0].id == "a"


def test_the_bm25_share_is_the_one_under_which_the_fused_ranking_finds_most():
    # dense ranks every target second; BM25 ranks half of them first and matches nothing
    # for the rest: some BM25 weight helps, all of it loses the other half
    dense = [[0.9 if n == (q + 1) % 6 else 0.8 if n == q else 0.1 for n in range(6)]
             for q in range(6)]
    lexical = [[5.0 if n == q and q % 2 == 0 else 0.0 for n in range(6)] for q in range(6)]
    share, fused = lexical_share(dense, lexical, list(range(6)), 0.0, 6)
    assert 0 < share < 1 and fused == 0.75  # three found first, three second

    misleading = [[5.0 if n == (q + 2) % 6 else 0.0 for n in range(6)] for q in range(6)]
    share, fused = lexical_share(dense, misleading, list(range(6)), 0.0, 6)
    assert share < 0.1 and fused == 0.5


def test_shares_follow_each_legs_known_item_mrr():
    alike = Calibration(dense_mrr=0.9, lexical_mrr=0.9, queries=40, chunks=100)
    blind = Calibration(dense_mrr=0.1, lexical_mrr=0.9, queries=40, chunks=100)
    assert alike.shares == {"dense": 0.7, "lexical": 0.3}
    assert blind.shares["dense"] < 0.25 and blind.weak_leg() == "dense"
    assert blind.stale(200) and blind.stale(50) and not blind.stale(150)


def test_a_cloze_query_is_a_short_sentence_taken_out_of_its_chunk():
    chinese = ("第一句很短。语义检索系统先把文档切成段落，"
               "然后为每一段计算向量，最后按相似度排序返回结果。")
    query, rest = cloze(chinese)
    assert chinese.startswith(rest) and rest == "第一句很短。"
    assert query in chinese and query not in rest and 10 <= len(query) <= 30

    query, rest = cloze("The staging cluster is rebuilt from scratch every Sunday night.")
    assert (query, rest) == ("The staging cluster is rebuilt", "from scratch every Sunday night.")
    assert cloze("Hi.") is None

    query, _ = cloze("See the log. Tools inherit BaseTool and read /var/log/wtmp_archive daily.")
    assert query == "Tools inherit BaseTool and read /var/log/wtmp_archive daily.", (
        "identifiers and paths stay whole words")
    query, _ = cloze("第一句很短。工具继承 BaseTool，声明名称、描述和参数模式以后再注册到代理。")
    assert query.startswith("工具继承 BaseTool") and "声明名称" in query


# ---- calibration on what questions share with their chunks, not on copies of it ------------
SYLLABLES = ["ba", "de", "fi", "go", "ku", "la", "me", "ni", "po", "ru", "sa", "te"]


def word(topic: int, wording: int, concept: int) -> str:
    """The `wording`-th synonym of a topic's `concept`: synonyms share no letters' worth of
    BM25 terms, only their meaning."""
    return SYLLABLES[topic] + SYLLABLES[wording + 4] + SYLLABLES[concept + 8] + "x"


def sentence(topic: int, wording: int) -> str:
    return " ".join(word(topic, wording, concept) for concept in range(4)) + "."


class ConceptEmbeddings(Embeddings):
    """Reads meaning: every synonym of a concept is one dimension (a model that knows
    paraphrases); BM25 sees only the words."""

    def _vector(self, text: str) -> list[float]:
        vector = [0.01] * (len(SYLLABLES) * 4)
        for found in re.findall(r"[a-z]{7}", text):
            topic, concept = SYLLABLES.index(found[:2]), SYLLABLES.index(found[4:6]) - 8
            vector[topic * 4 + concept] += 1.0
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def test_a_leg_cannot_look_better_to_the_calibration_than_to_paraphrased_questions(settings):
    """Each chunk says one thing twice in other words; the questions say it a third way.
    A sentence copied out of its chunk lets BM25 match it verbatim (the known-item check
    read BM25's MRR as 1.0 here); taken out of the chunk, it must be found by meaning."""
    kb = KnowledgeBase(settings, embeddings=ConceptEmbeddings(), collection="paraphrase")
    topics = range(len(SYLLABLES))
    kb.add_texts([f"{sentence(t, 0)} {sentence(t, 1)}" for t in topics],
                 [{"source": f"topic{t}"} for t in topics])

    def mrr(mode: str) -> float:
        ranks = [[h.source for h in kb.search(sentence(t, 2), k=10, mode=mode)]
                 for t in topics]
        return sum(1 / (r.index(f"topic{t}") + 1) if f"topic{t}" in r else 0.0
                   for t, r in zip(topics, ranks)) / len(topics)

    calibration = kb.calibrate()
    asked_lexical, asked_dense = mrr("lexical"), mrr("dense")

    assert calibration is not None and calibration.method == "inverse cloze"
    assert asked_dense > 0.9 and asked_lexical < 0.2, "the case: only meaning finds them"
    assert calibration.lexical_mrr <= asked_lexical + 0.2
    assert calibration.dense_mrr >= asked_dense - 0.2
    assert calibration.weak_leg() == "lexical" and kb.fusion_shares()["lexical"] < 0.1


def test_an_ingest_calibrates_with_two_embedding_requests_and_no_search(settings, ollama,
                                                                        monkeypatch):
    """The calibration is off Milvus's critical path: it reads one sample and ranks it in
    memory, so it never waits on an index Milvus is still building after the inserts."""
    searched: list[str] = []
    kb = KnowledgeBase(settings, collection="cheap", embed_batch_size=64)
    texts = [f"Team {n} meets on day {n % 7}. Team {n} keeps notes of every meeting."
             for n in range(120)]
    kb.add_texts(texts[:1])  # opens the store, so that its client can be watched
    for name in ("search", "hybrid_search"):
        monkeypatch.setattr(kb.store.client, name,
                            lambda *a, _name=name, **k: searched.append(_name) or [])
    ollama.requests.clear()

    report = kb.add_texts(texts)

    chunks = {f"search_document: {t}" for t in texts}
    extra = [[t for t in body["input"] if t not in chunks]
             for path, body in ollama.requests if path == "/api/embed"]
    assert report.added == len(texts) - 1
    assert kb.store.calibration is not None and kb.store.calibration.chunks == len(texts)
    assert searched == [], "no search: the legs are ranked in memory"
    assert sum(map(len, extra)) <= 2 * 48, "a query and a stripped chunk per sampled chunk"
    assert len([e for e in extra if e]) == 2, "the queries and the stripped chunks, batched"


class HighFloorEmbeddings(ConceptEmbeddings):
    """ConceptEmbeddings sharing one large component: unrelated texts score about 0.6, as
    with multilingual-e5 (0.76)."""

    def _vector(self, text: str) -> list[float]:
        return [*super()._vector(text), 4.0]


def test_the_calibration_measures_the_dense_floor_and_hybrid_search_uses_it(settings):
    """Questions worded as their topic's chunk means, with one word of the next topic's
    chunk: BM25 finds the wrong topic, the dense leg the right one, by a margin that is
    small against a floor of 0 but clear against the model's floor."""
    kb = KnowledgeBase(settings, embeddings=HighFloorEmbeddings(), collection="floor",
                       lexical_weight=0.3)
    topics = range(len(SYLLABLES))
    kb.add_texts([f"{sentence(t, 0)} {sentence(t, 1)}" for t in topics],
                 [{"source": f"topic{t}"} for t in topics])
    calibration = kb.calibrate()
    questions = [f"{sentence(t, 2)} {word((t + 1) % len(SYLLABLES), 0, 0)}" for t in topics]

    first = [kb.search(q, k=3, mode="hybrid")[0].source for q in questions]

    assert calibration is not None and calibration.dense_floor > 0.5
    assert first == [f"topic{t}" for t in topics]
