"""Bias test queries: the four sets X, Y, A, B of a test, their items, and templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from analysis.errors import SenseScopeError

LEVELS = ("word", "sentence", "contextual")
SET_KEYS = ("X", "Y", "A", "B")


class BiasTestError(SenseScopeError):
    """A bias test definition or request cannot be used."""


# ----------------------------------------------------------------------------------------------------------------------
# Query types
# ----------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a word in a text: ``text[start:end]`` is the form, ``word`` the list entry it stands for."""

    word: str
    text: str
    start: int
    end: int

    @property
    def form(self) -> str:
        return self.text[self.start:self.end]


@dataclass(frozen=True)
class TermSet:
    """One of the four sets of a test.

    Attributes
    ----------
    name : category name ("MaleNames", "Career", ...)
    words : the word list (empty for sentence-only tests such as SEAT's religion or double-bind paragraphs)
    sentences : sentences for the sentence level (bundled SEAT sentences, or templates applied to the words)
    sentence_words : for each sentence the word it was built from or that was found in it ("" when unknown)
    contexts : occurrences for the contextual level (words located in the sentences, template slots, or corpus hits)
    missing : entries that could not be supplied when the set was built (a word absent from the corpus, a sentence in
        which no word of the list was found); they are reported with every result, never silently dropped
    """

    name: str
    words: tuple[str, ...] = ()
    sentences: tuple[str, ...] = ()
    sentence_words: tuple[str, ...] = ()
    contexts: tuple[Occurrence, ...] = ()
    missing: tuple[str, ...] = ()

    def __post_init__(self):
        if self.sentence_words and len(self.sentence_words) != len(self.sentences):
            raise BiasTestError(f"set {self.name!r}: sentence_words must have one entry per sentence")


def _check_template(template: str) -> None:
    if not isinstance(template, str) or not template.strip():
        raise BiasTestError("a template is empty; write a sentence with {} where the word goes, e.g. 'This is {}.'")
    n = template.count("{}")
    if n == 0:
        raise BiasTestError(f"template {template!r} has no {{}} where the word goes (e.g. 'This is {{}}.')")
    if n > 1:
        raise BiasTestError(f"template {template!r} has {n} {{}} slots; use exactly one")


def apply_templates(words: Sequence[str], templates: Sequence[str]) -> tuple[list[str], list[str], list[Occurrence]]:
    """Put every word into every template.

    Returns
    -------
    sentences : list of len(words) * len(templates) sentences (word-major order)
    sentence_words : the word of each sentence
    contexts : an :class:`Occurrence` per sentence, spanning the word inside it
    """
    sentences, owners, contexts = [], [], []
    for word in words:
        for template in templates:
            _check_template(template)
            start = template.index("{}")
            text = template[:start] + word + template[start + 2:]
            sentences.append(text)
            owners.append(word)
            contexts.append(Occurrence(word, text, start, start + len(word)))
    return sentences, owners, contexts


@dataclass(frozen=True)
class WeatQuery:
    """Two target sets X, Y and two attribute sets A, B, validated on construction.

    Build one from word lists with :meth:`from_words` (optionally with templates such as ``"This is {}."``), from a
    bundled or user JSON file with :mod:`analysis.bias.sources`, or from corpus occurrences with
    :func:`analysis.bias.sources.corpus_query`.

    Validation (each failure raises :class:`BiasTestError` with a message that names the test and the set):
    every set is non-empty and has at least two words (or two sentences for sentence-only tests); no word appears
    twice in a set; X and Y (and A and B) share no word; X and Y have the same number of words; every template has
    exactly one ``{}``.
    """

    name: str
    X: TermSet
    Y: TermSet
    A: TermSet
    B: TermSet
    templates: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self):
        if not str(self.name).strip():
            raise BiasTestError("a bias test needs a name")
        for t in self.templates:
            _check_template(t)
        for key, s in zip(SET_KEYS, self.sets()):
            what = "words" if s.words else "sentences"
            items = s.words if s.words else s.sentences
            if len(items) == 0:
                raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) is empty")
            if len(items) < 2:
                raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) has only one {what[:-1]} "
                                    f"({items[0]!r}); an association test needs at least two per set")
            seen = set()
            for w in items:
                if not isinstance(w, str) or not w.strip():
                    raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) has an empty entry")
                if w.strip().lower() in seen:
                    raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) lists {w!r} twice")
                seen.add(w.strip().lower())
        if len({bool(s.words) for s in self.sets()}) > 1:
            raise BiasTestError(f"test {self.name!r}: either all four sets have words or none has "
                                "(sentence-only tests give sentences for all four)")
        for (k1, s1), (k2, s2) in (((SET_KEYS[0], self.X), (SET_KEYS[1], self.Y)),
                                   ((SET_KEYS[2], self.A), (SET_KEYS[3], self.B))):
            both = {w.strip().lower() for w in s1.words} & {w.strip().lower() for w in s2.words}
            if both:
                raise BiasTestError(f"test {self.name!r}: {sorted(both)[0]!r} is in both {k1} ({s1.name}) and "
                                    f"{k2} ({s2.name}); the two sets must not share words")
        if self.X.words and len(self.X.words) != len(self.Y.words):
            raise BiasTestError(
                f"test {self.name!r}: the target sets have different sizes (X {self.X.name}: {len(self.X.words)} "
                f"words, Y {self.Y.name}: {len(self.Y.words)}); WEAT compares equal-size target sets, so add or remove "
                "words to make them equal")

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_words(cls, name: str, X: Sequence[str], Y: Sequence[str], A: Sequence[str], B: Sequence[str], *,
                   names: Sequence[str] = ("X", "Y", "A", "B"), templates: Sequence[str] = ()) -> "WeatQuery":
        """A query from four word lists (its source "user"; ``dataclasses.replace`` sets another); ``templates`` (each
        with one ``{}``) give the sentence and contextual levels."""
        templates = tuple(templates)
        for t in templates:
            _check_template(t)
        sets = []
        for label, words in zip(names, (X, Y, A, B)):
            if isinstance(words, str):
                raise BiasTestError(f"set {label!r} must be a list of words, not one string")
            words = tuple(str(w).strip() for w in words)
            if templates:
                sents, owners, ctx = apply_templates(words, templates)
                sets.append(TermSet(label, words, tuple(sents), tuple(owners), tuple(ctx)))
            else:
                sets.append(TermSet(label, words))
        return cls(name, *sets, templates=templates, source="user")

    # -- inspection ---------------------------------------------------------------------------------------------
    def sets(self) -> tuple[TermSet, TermSet, TermSet, TermSet]:
        return (self.X, self.Y, self.A, self.B)

    def levels(self) -> tuple[str, ...]:
        """The levels this query has inputs for."""
        out = []
        if self.X.words:
            out.append("word")
        if all(s.sentences for s in self.sets()):
            out.append("sentence")
        if all(s.contexts for s in self.sets()):
            out.append("contextual")
        return tuple(out)

    def describe(self) -> dict:
        """Plain-JSON summary (for manifests)."""
        return {"name": self.name, "source": self.source, "templates": list(self.templates),
                "sets": {k: {"name": s.name, "n_words": len(s.words), "n_sentences": len(s.sentences),
                             "n_contexts": len(s.contexts), "missing": list(s.missing)}
                         for k, s in zip(SET_KEYS, self.sets())}}

