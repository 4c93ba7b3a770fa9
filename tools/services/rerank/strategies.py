"""Rerank strategies: which passages the judge sees together, and in what order the
answers combine. Each is a function of the judge and the plan; adding a strategy is a
new function here, its name in `STRATEGY_FUNCTIONS` and in the vocabulary (`Strategy`,
`LLM_STRATEGIES`).

A strategy returns a permutation of `range(len(judge.hits))`, best first.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import zip_longest

from .judging import Judge


@dataclass(frozen=True)
class Plan:
    """The shape of one rerank: listwise window and step, tournament keep, concurrency,
    and the number of passages the caller keeps."""

    window: int
    step: int
    keep: int
    concurrency: int
    top_k: int


async def pointwise(judge: Judge, plan: Plan) -> list[int]:
    """A grade per passage, `concurrency` calls at a time; ties break on retrieval score."""
    count = len(judge.hits)
    await asyncio.gather(*(judge.grade(i, i // plan.concurrency) for i in range(count)))
    return sorted(range(count),
                  key=lambda i: (-judge.scores.get(i, -1.0), -judge.hits[i].score, i))


async def listwise(judge: Judge, plan: Plan) -> list[int]:
    """RankGPT's sliding window, from the bottom of the list to the top."""
    order = list(range(len(judge.hits)))
    end, round_ = len(order), 0
    while True:
        start = max(0, end - plan.window)
        order[start:end], round_ = await judge.rank_window(order[start:end], round_)
        if start == 0:
            return order
        end -= plan.step


async def tournament(judge: Judge, plan: Plan) -> list[int]:
    """Rank balanced windows in parallel and keep each window's best `keep`, level by
    level, until one window holds the survivors; rank that one last.

    Survivors are dealt round-robin into the next level's windows, so every window
    mixes strong passages from different windows. 100 passages in windows of 20,
    keeping 8: 100 -> 40 -> 16 -> final, three sequential round trips (a sliding
    window needs nine). Passages knocked out later rank above those knocked out earlier.
    """
    order, window, round_ = list(range(len(judge.hits))), plan.window, 0
    knocked_out: list[list[int]] = []
    while len(order) > window:
        count = math.ceil(len(order) / window)
        windows = [order[i::count] for i in range(count)]
        ranked = await asyncio.gather(*(judge.rank_window(w, round_) for w in windows))
        round_ = max(r for _, r in ranked)
        kept = min(plan.keep, window // 2)  # at most half: every level shrinks
        order = _interleave([ranked_window[:kept] for ranked_window, _ in ranked])
        knocked_out.append(_interleave([ranked_window[kept:] for ranked_window, _ in ranked]))
    final, _ = await judge.rank_window(order, round_)
    return [*final, *(i for level in reversed(knocked_out) for i in level)]


async def pairwise(judge: Judge, plan: Plan) -> list[int]:
    """Tournament selection of the best `top_k` by pairwise comparisons.

    A knockout tree finds the best in N-1 comparisons, each level's matches at once;
    each next-best replays only the matches on the previous winner's path (log N), so the
    top K cost N - 1 + (K - 1) log N comparisons instead of all N(N - 1) / 2 pairs. Every
    comparison asks both orders. The passages below the top K keep their first-stage order.
    """
    count = len(judge.hits)
    size = 1 << max(count - 1, 0).bit_length()
    tree: list[int | None] = [None] * size + [*range(count)] + [None] * (size - count)
    decided: dict[tuple[int, int], asyncio.Future[int]] = {}
    round_ = 0

    async def match(node: int) -> bool:
        """Set `node` to the winner of its children; True when the LLM had to be asked."""
        a, b = tree[2 * node], tree[2 * node + 1]
        if a is None or b is None:
            tree[node] = b if a is None else a
            return False
        pair = (min(a, b), max(a, b))
        asked = pair not in decided
        if asked:
            decided[pair] = asyncio.ensure_future(judge.compare(*pair, round_))
        tree[node] = await decided[pair]
        return asked

    for level in range(size.bit_length() - 2, -1, -1):  # leaves' parents up to the root
        nodes = range(1 << level, 2 << level)
        if any(await asyncio.gather(*(match(node) for node in nodes))):
            round_ += 1
    ranked: list[int] = []
    while len(ranked) < min(plan.top_k, count) and tree[1] is not None:
        ranked.append(tree[1])
        node = size + tree[1]
        tree[node] = None
        while node > 1:
            node //= 2
            if await match(node):
                round_ += 1
    chosen = set(ranked)
    return [*ranked, *(i for i in range(count) if i not in chosen)]


def _interleave(lists: list[list[int]]) -> list[int]:
    """Round-robin merge: the first of each list, then the second of each, ..."""
    return [item for row in zip_longest(*lists) for item in row if item is not None]


StrategyFunction = Callable[[Judge, Plan], Awaitable[list[int]]]

STRATEGY_FUNCTIONS: dict[str, StrategyFunction] = {
    "pointwise": pointwise,
    "listwise": listwise,
    "tournament": tournament,
    "pairwise": pairwise,
}
"""The strategies that call the LLM; "none" keeps the retrieval order."""

MIN_CANDIDATES = {"pointwise": 1}
"""Fewer candidates than this need no LLM call (an order needs two passages)."""
