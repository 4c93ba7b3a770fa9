"""Lexical analysis for the BM25 leg: words stemmed, stopwords dropped, Chinese segmented.

rankwise analyses text itself and hands Milvus space-separated terms, so Milvus Lite and
a Milvus server index the same terms (Lite's analyzers neither stem, nor drop stopwords,
nor split Chinese). Han runs are segmented with jieba's search mode (rjieba), which also
emits the words inside compounds (检索系统 -> 检索, 系统, 检索系统); other words are
lower-cased, NFKC-normalised, filtered by the language's stopword list and stemmed with
its Snowball stemmer (PyStemmer). A query is analysed the same way as the chunks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property

import Stemmer
import stopwords as stoplists

ANALYZER_VERSION = 1  # bump when the terms of a text change: collections record it
AUTO = "auto"
NONE = "none"  # lower-casing and segmentation only: no stemming, no stopwords
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_TERMS = re.compile(rf"([{_HAN}]+)|([^\W_{_HAN}]+)")  # a Han run | a word of letters/digits
_DETECTION_SHARE = 0.15  # stopwords among a text's words, from which a language is trusted


@cache
def languages() -> tuple[str, ...]:
    """Languages with both a Snowball stemmer and a stopword list."""
    stemmers = set(Stemmer.algorithms()) - {"porter", "dutch_porter"}
    return tuple(sorted(stemmers & set(stoplists.languages())))


@cache
def _segmenter() -> Callable[[str], list[str]]:
    import rjieba  # loads its dictionary (~0.14 s): only once Han text is analysed

    return rjieba.cut_for_search


def lexical_languages() -> tuple[str, ...]:
    """Every value the `lexical_language` setting accepts."""
    return (AUTO, NONE, *languages())


@cache
def _stopwords(language: str) -> frozenset[str]:
    return frozenset(w.lower() for w in stoplists.get_stopwords(language) if w)


def detect_language(texts: Iterable[str]) -> str:
    """The language whose stopwords are most of these texts' words (English when no
    language reaches a trusted share, as in code, names or Chinese-only text)."""
    words = Counter(m.group(2).lower() for text in texts for m in _TERMS.finditer(text)
                    if m.group(2))
    total = sum(words.values())
    if not total:
        return "english"
    share = {language: sum(n for w, n in words.items() if w in _stopwords(language)) / total
             for language in languages()}
    best = max(share, key=share.__getitem__)
    return best if share[best] >= _DETECTION_SHARE else "english"


@dataclass(frozen=True)
class LexicalAnalyzer:
    """Turns text into BM25 terms; `language` is a Snowball language or "none"."""

    language: str

    @cached_property
    def _stop(self) -> frozenset[str]:
        return frozenset() if self.language == NONE else _stopwords(self.language)

    @cached_property
    def _stem(self) -> Callable[[str], str]:
        return str if self.language == NONE else Stemmer.Stemmer(self.language).stemWord

    def terms(self, text: str) -> list[str]:
        """The terms of `text`, in order."""
        terms: list[str] = []
        for han, word in _TERMS.findall(unicodedata.normalize("NFKC", text)):
            if han:
                terms.extend(_segmenter()(han))
            elif (word := word.lower()) not in self._stop:
                terms.append(self._stem(word))
        return terms

    def analyze(self, text: str) -> str:
        """`text` as space-separated terms: what Milvus's BM25 function indexes."""
        return " ".join(self.terms(text))

    def describe(self) -> str:
        """What is done to a text's words, as `doctor` says it: Han runs are segmented
        whatever the language, which governs only the other words."""
        words = ("other words lower-cased only" if self.language == NONE else
                 f"other words lower-cased, {self.language} stopwords dropped, Snowball "
                 f"{self.language} stems")
        return f"BM25 terms: Han text segmented into words by jieba, {words}"

    def record(self) -> dict[str, object]:
        """What a collection stores to check that queries are analysed like its chunks."""
        return {"version": ANALYZER_VERSION, "language": self.language,
                "segmenter": "jieba search mode (rjieba)", "stemmer": "snowball (PyStemmer)"}
