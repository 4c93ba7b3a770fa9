"""Hybrid search that never loses to its better leg: scores normalised on their theoretical
range, and each leg weighed by how well it reads the collection (a known-item check)."""

from __future__ import annotations

from langchain_core.embeddings import DeterministicFakeEmbedding
from rankwise.tools import KnowledgeBase
from rankwise.tools.core.calibration import Calibration, pseudo_query
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
    kb.add_texts([f"Note {n}: the {word} team meets on {day}." for n, (word, day) in enumerate(
        zip(["sales", "support", "design", "finance", "legal", "ops", "research", "hiring",
             "security", "data"], ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                   "Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]))])

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


def test_shares_follow_each_legs_known_item_mrr():
    alike = Calibration(dense_mrr=0.9, lexical_mrr=0.9, queries=40, chunks=100)
    blind = Calibration(dense_mrr=0.1, lexical_mrr=0.9, queries=40, chunks=100)
    assert alike.shares == {"dense": 0.7, "lexical": 0.3}
    assert blind.shares["dense"] < 0.25 and blind.weak_leg() == "dense"
    assert blind.stale(200) and blind.stale(50) and not blind.stale(150)


def test_a_pseudo_query_is_a_short_sentence_of_the_chunk():
    chinese = ("第一句很短。语义检索系统先把文档切成段落，"
               "然后为每一段计算向量，最后按相似度排序返回结果。")
    english = "Short. " + " ".join(["The nightly backup keeps thirty days of copies"] * 4) + "."
    assert pseudo_query(chinese) in chinese and 10 <= len(pseudo_query(chinese)) <= 30
    assert pseudo_query(english).startswith("The nightly backup")
    assert pseudo_query("Hi.") is None
