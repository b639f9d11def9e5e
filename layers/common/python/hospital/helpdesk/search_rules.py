"""Chinese text search for the FAQ (AS2) that behaves the same on MySQL and SQLite: no
full-text engine, a table of terms instead. Pure rules: text in, terms out.

Text is NFKC-normalised (full-width letters and digits become ASCII, compatibility forms
their plain character) and lowercased. A run of CJK characters becomes its overlapping
character bigrams ("挂号退费" -> 挂号, 号退, 退费), and, for the index only, each of its
characters too, so a one-character query finds something. A run of other letters and digits
is one word. Punctuation and spaces separate runs and are never terms themselves, so no
bigram spans a comma.

An entry's terms carry a weight: QUESTION_WEIGHT where they stand in its question or tags,
ANSWER_WEIGHT in its answer, the sum where both. A search ranks entries by the summed weight
of the query terms they hold, ties by recency (the store's ORDER BY).
"""
from __future__ import annotations

import unicodedata

QUESTION_WEIGHT, ANSWER_WEIGHT = 3, 1
MAX_TERM = 32  # characters of a word kept; a longer word is cut (it still matches itself)
MAX_QUERY_TERMS = 32  # a pasted paragraph searches by its first terms, not by hundreds


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3134F      # ideographs, extensions B to H
            or 0x3040 <= code <= 0x30FF        # kana
            or 0xAC00 <= code <= 0xD7AF)       # hangul syllables


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def runs(text: str) -> list[tuple[bool, str]]:
    """(is CJK, run) in order: runs of CJK characters and runs of other letters and digits;
    everything else (spaces, punctuation, symbols) separates them."""
    out: list[tuple[bool, str]] = []
    kind: bool | None = None
    current: list[str] = []
    for ch in normalise(text):
        this = True if _is_cjk(ch) else (False if ch.isalnum() else None)
        if this != kind and current:
            out.append((bool(kind), "".join(current)))
            current = []
        kind = this
        if this is not None:
            current.append(ch)
    if current:
        out.append((bool(kind), "".join(current)))
    return out


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def document_terms(text: str) -> set[str]:
    """Every term of a text as the index holds it: bigrams and single characters of CJK,
    whole words otherwise."""
    terms: set[str] = set()
    for cjk, run in runs(text):
        if cjk:
            terms.update(_bigrams(run))
            terms.update(run)
        else:
            terms.add(run[:MAX_TERM])
    return terms


def query_terms(text: str) -> list[str]:
    """The terms a query looks for, in the order typed, each once: bigrams of a CJK run, the
    character itself for a run of one, whole words otherwise."""
    terms: list[str] = []
    for cjk, run in runs(text):
        found = (_bigrams(run) or [run]) if cjk else [run[:MAX_TERM]]
        terms.extend(term for term in found if term not in terms)
    return terms[:MAX_QUERY_TERMS]


def weighted_terms(question: str, answer: str, tags: list[str] | tuple[str, ...] = ()) -> dict[str, int]:
    """term -> weight of one entry (tags weigh as the question does)."""
    asked = document_terms(question)
    for tag in tags:
        asked |= document_terms(tag)
    answered = document_terms(answer)
    return {term: QUESTION_WEIGHT * (term in asked) + ANSWER_WEIGHT * (term in answered)
            for term in asked | answered}
