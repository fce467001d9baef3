"""Catalog search for villagers (issue 7): what a villager types (低保, 养老, 办残疾证) -> the
items that help, the most relevant first. Pure: it ranks a compact in-memory index
(:class:`SearchEntry`, one per item); building and caching the index is the container's business.

Ranking (per query term; a query's terms are split on blanks and all must match):

======================  =====  =====================================================
match                   score  example for 低保
======================  =====  =====================================================
exact keyword           100    HH-MZ-001 lists the keyword 低保
name contains           10     最低生活保障审核确认（农村低保申请）
a keyword contains      3      keyword 低保变更 contains 低保
department, category,   1      only when nothing above matched: 县民政局, 社会救助, the code
code contain
======================  =====  =====================================================

The term's score is the sum of the rows that hold (the last row only alone), the item's score
the sum over terms. Ties: the earlier an exact keyword stands in the item's list (keywords are
written most typical first), then the shorter name (a more general item), then the code.
Text is compared after NFKC normalisation and lower-casing (全角 ＡＢＣ = abc).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Container, Iterable

from .catalog import CATEGORY_LABELS, ServiceItem

EXACT_KEYWORD, NAME_CONTAINS, KEYWORD_CONTAINS, OTHER_CONTAINS = 100, 10, 3, 1
MAX_TERMS = 5
_SPLIT = re.compile(r"[\s,，、;；]+")


def normalise(text: Any) -> str:
    """NFKC, lower case, no surrounding blanks."""
    return unicodedata.normalize("NFKC", str(text or "")).lower().strip()


def terms_of(query: str | None) -> list[str]:
    """The query's terms (at most :data:`MAX_TERMS`, duplicates dropped)."""
    return list(dict.fromkeys(t for t in _SPLIT.split(normalise(query)) if t))[:MAX_TERMS]


@dataclass(frozen=True)
class SearchEntry:
    """What search needs of one item (a few hundred bytes): normalised text to match, the
    filters, and the list view (``ServiceItem.summary()``) to answer with."""

    code: str
    name: str
    keywords: tuple[str, ...]
    other: str
    category: str
    level: str
    summary: dict[str, Any] = field(compare=False, hash=False)
    has_materials: bool = False
    #: The keywords as written (for display, e.g. Open311's ``keywords``).
    keywords_as_written: tuple[str, ...] = ()


def entry_of(item: ServiceItem) -> SearchEntry:
    """The search entry of ``item``."""
    other = " ".join(normalise(x) for x in (item.record.get("department"), CATEGORY_LABELS.get(item.category),
                                             item.code, item.record.get("deciding_department")) if x)
    return SearchEntry(code=item.code, name=normalise(item.name),
                       keywords=tuple(normalise(k) for k in item.record.get("keywords") or ()), other=other,
                       category=item.category, level=item.exercising_level, summary=item.summary(),
                       has_materials=bool(item.publicities.get("materials")),
                       keywords_as_written=tuple(str(k) for k in item.record.get("keywords") or ()))


def _term_score(entry: SearchEntry, term: str) -> tuple[int, int]:
    """``(score, position of the exact keyword or a large number)`` of one term."""
    score, position = 0, 1 << 10
    if term in entry.keywords:
        score += EXACT_KEYWORD
        position = entry.keywords.index(term)
    if term in entry.name:
        score += NAME_CONTAINS
    if any(term in k and term != k for k in entry.keywords):
        score += KEYWORD_CONTAINS
    if not score and term in entry.other:
        score = OTHER_CONTAINS
    return score, position


def search(entries: Iterable[SearchEntry], query: str | None, *, category: str | None = None,
           level: str | None = None, codes: Container[str] | None = None) -> list[tuple[SearchEntry, int]]:
    """``[(entry, score)]`` of the entries of ``category`` and ``level`` (when given), among
    ``codes`` (when given: the items a township offers), that match every term of ``query``,
    best first (see the module's ranking). No terms: every entry of the filters, by code, score 0."""
    terms = terms_of(query)
    ranked = []
    for entry in entries:
        if (category and entry.category != category) or (level and entry.level != level) or \
                (codes is not None and entry.code not in codes):
            continue
        total, position = 0, 1 << 10
        for term in terms:
            score, where = _term_score(entry, term)
            if not score:
                break
            total, position = total + score, min(position, where)
        else:
            key = (-total, position, len(entry.name), entry.code) if terms else (entry.code,)
            ranked.append((key, entry, total))
    ranked.sort(key=lambda r: r[0])
    return [(entry, total) for _key, entry, total in ranked]
