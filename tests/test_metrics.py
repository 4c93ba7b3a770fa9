"""Metric code against cases computed by hand."""

from __future__ import annotations

import math

import pytest
from rankwise.tools.core.metrics import mrr_at_k, ndcg_at_k, recall_at_k

GRADES = {"a": 3, "b": 2, "c": 1, "z": 0}


def test_ndcg_of_the_ideal_ranking_is_one():
    assert ndcg_at_k(["a", "b", "c"], GRADES) == pytest.approx(1.0)


def test_ndcg_by_hand():
    # ranking c, x, a: DCG = 1/log2(2) + 0 + 3/log2(4) = 1 + 1.5 = 2.5
    # ideal a, b, c:   DCG = 3 + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5 = 4.76186
    assert ndcg_at_k(["c", "x", "a"], GRADES) == pytest.approx(2.5 / (3 + 2 / math.log2(3) + 0.5))


def test_ndcg_cuts_at_k_and_counts_unretrieved_relevant_in_the_ideal():
    # k = 1: ranking b -> DCG 2, ideal 3
    assert ndcg_at_k(["b", "a"], GRADES, k=1) == pytest.approx(2 / 3)
    assert ndcg_at_k(["x", "y"], GRADES) == 0.0
    assert ndcg_at_k(["a"], {"z": 0}) == 0.0


def test_recall_and_mrr_by_hand():
    ranking = ["x", "c", "y", "a"]
    assert recall_at_k(ranking, GRADES, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, GRADES, k=4) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, GRADES, k=4, threshold=2) == pytest.approx(1 / 2)
    assert mrr_at_k(ranking, GRADES) == pytest.approx(1 / 2)
    assert mrr_at_k(ranking, GRADES, threshold=3) == pytest.approx(1 / 4)
    assert mrr_at_k(ranking, GRADES, k=1) == 0.0
