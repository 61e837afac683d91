"""Where bias tests come from: the bundled WEAT/SEAT/Tan & Celis files, user JSON files, and "use my corpus".

Why a separate module: :mod:`analysis.bias` holds the statistics and the encoding runner; this one turns files and
corpora into validated :class:`~analysis.bias.WeatQuery` objects, so the statistics stay free of file formats.

Bundled tests (``data/weat_seat/``, see its README.md) are named by their file stems: ``weat6``, ``sent-weat6``,
``weat+i1``, ``sent-religion1``, ``heilman_double_bind_competent_1``... ``NAME`` and ``sent-NAME`` are paired: either
name gives one query with ``NAME``'s word lists (word level), ``sent-NAME``'s template sentences (SEAT sentence level)
and the occurrences of ``NAME``'s words inside those sentences (Tan & Celis' contextual word level). A word is found
in a sentence case-insensitively as a whole word, in its listed form or a regular plural/singular (executive →
executives, child ↔ children, woman of color → women of color), the listed form preferred; a sentence in which no word
is found is reported as missing. Sentence-only tests (``sent-religion*`` and the Heilman paragraph files) run at the
sentence level only.

User test files are JSON, one test or a list of tests, in the bundled format (``targ1``/``targ2``/``attr1``/``attr2``
each ``{"category": ..., "examples": [...]}``) or the short format ``{"name": ..., "X": [...], "Y": [...], "A": [...],
"B": [...]}``; both may add ``"templates": ["This is {}.", ...]`` for the sentence and contextual levels.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from analysis.bias.query import LEVELS, SET_KEYS, BiasTestError, Occurrence, TermSet, WeatQuery
from analysis._util import natural_key
from analysis.errors import NoOccurrencesError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_DIR = ROOT / "data" / "weat_seat"
# Search order: a stem found in an earlier folder wins (the copies are unique, see data/weat_seat/README.md).
_FOLDERS = ("sent-bias/tests", "sent-bias/tests-hidden", "tan_celis_2019/iats", "bias_bench_religion")
_FILE_KEYS = ("targ1", "targ2", "attr1", "attr2")
_SENTENCE_END = re.compile(r"[.!?]\"?$")
DEFAULT_TEMPLATES = ("This is {}.", "That is {}.", "There is {}.", "Here is {}.", "{} is here.", "{} is there.")


# ------------------------------------------------------------------------------------------------------ bundled tests
def _sort_key(name: str):
    """Natural order (weat2 before weat10), each ``sent-`` version right after its word-list version."""
    return natural_key(name.removeprefix("sent-")), name.startswith("sent-")


@lru_cache(maxsize=1)
def bundled_files() -> dict[str, Path]:
    """Every bundled test: file stem -> path."""
    out: dict[str, Path] = {}
    for folder in _FOLDERS:
        for path in sorted((BUNDLED_DIR / folder).glob("*.jsonl")):
            out.setdefault(path.stem, path)
    if not out:
        raise BiasTestError(f"no bundled bias tests found under {BUNDLED_DIR}")
    return dict(sorted(out.items(), key=lambda kv: _sort_key(kv[0])))


@lru_cache(maxsize=None)
def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BiasTestError(f"cannot read bias test file {Path(path).name}: {exc}") from exc


def _is_sentence_list(items: Sequence[str]) -> bool:
    return bool(items) and all(_SENTENCE_END.search(str(x).strip()) for x in items)


def _is_sentence_file(stem: str, data: Mapping) -> bool:
    return stem.startswith("sent-") or all(_is_sentence_list(data[k]["examples"]) for k in _FILE_KEYS)


def bundled_names(level: str | None = None) -> list[str]:
    """The bundled battery: all stems, or the canonical stems for one level.

    ``word``: files with word lists; ``sentence``: files with sentences (``sent-*`` and sentence-only files);
    ``contextual``: ``sent-NAME`` files whose ``NAME`` word lists exist.
    """
    files = bundled_files()
    if level is None:
        return list(files)
    if level not in LEVELS:
        raise BiasTestError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    sentence = {s for s, p in files.items() if _is_sentence_file(s, _read_json(p))}
    if level == "word":
        return [s for s in files if s not in sentence]
    if level == "sentence":
        return [s for s in files if s in sentence]
    return [s for s in files if s.startswith("sent-") and s[5:] in files and s[5:] not in sentence]


def _partner(stem: str) -> str | None:
    files = bundled_files()
    other = stem[5:] if stem.startswith("sent-") else "sent-" + stem
    return other if other in files else None


def load_bundled(name: str) -> WeatQuery:
    """The bundled test ``name`` (a file stem), merged with its ``sent-``/word-list partner when there is one."""
    files = bundled_files()
    name = str(name).strip()
    if name.endswith(".jsonl"):
        name = name[:-6]
    if name not in files:
        import difflib

        close = difflib.get_close_matches(name, list(files), n=5, cutoff=0.6) or \
            [s for s in files if name.lower() in s.lower()][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known tests: {', '.join(list(files)[:12])}, ..."
        raise BiasTestError(f"there is no bundled bias test {name!r}{hint}")
    stems = [name] + ([_partner(name)] if _partner(name) else [])
    word_data = sent_data = None
    sources = []
    for stem in stems:
        data = _read_json(files[stem])
        _check_file_layout(data, files[stem].name)
        sources.append(str(files[stem].relative_to(ROOT)))
        if _is_sentence_file(stem, data):
            sent_data = data
        else:
            word_data = data
    sets = []
    for key, file_key in zip(SET_KEYS, _FILE_KEYS):
        category = (word_data or sent_data)[file_key].get("category", key)
        words = tuple(word_data[file_key]["examples"]) if word_data else ()
        sentences = tuple(sent_data[file_key]["examples"]) if sent_data else ()
        if words and sentences:
            contexts, owners, missing = locate_words(sentences, words)
            sets.append(TermSet(category, words, sentences, tuple(owners), tuple(contexts), tuple(missing)))
        else:
            sets.append(TermSet(category, words, sentences))
    return WeatQuery(name, *sets, source=" + ".join(sources))


def _check_file_layout(data, label: str) -> None:
    if not isinstance(data, Mapping) or any(k not in data for k in _FILE_KEYS):
        raise BiasTestError(f"{label}: a bias test needs targ1, targ2, attr1 and attr2 (or X, Y, A, B)")
    for k in _FILE_KEYS:
        part = data[k]
        if not isinstance(part, Mapping) or not isinstance(part.get("examples"), list):
            raise BiasTestError(f"{label}: {k} must be {{\"category\": ..., \"examples\": [...]}}")


# ----------------------------------------------------------------------------------------------- words in sentences
_IRREGULAR = {"child": "children", "person": "people", "man": "men", "woman": "women"}


def word_forms(word: str) -> list[str]:
    """The listed form first, then regular plural/singular variants (lower case; phrases inflect man/woman anywhere
    and the last word otherwise)."""
    w = " ".join(word.lower().split())
    forms = [w]
    head, _, last = w.rpartition(" ")
    pre = head + " " if head else ""

    def add(f):
        if f and f not in forms:
            forms.append(f)

    for sing, plur in _IRREGULAR.items():
        if re.search(rf"\b{sing}\b", w):
            add(re.sub(rf"\b{sing}\b", plur, w))
        if re.search(rf"\b{plur}\b", w):
            add(re.sub(rf"\b{plur}\b", sing, w))
    if last not in _IRREGULAR and last not in _IRREGULAR.values():
        if re.search(r"[^aeiou]y$", last):
            add(pre + last[:-1] + "ies")
        elif re.search(r"(s|sh|ch|x|z)$", last):
            add(pre + last + "es")
        else:
            add(pre + last + "s")
        if last.endswith("ies") and len(last) > 4:
            add(pre + last[:-3] + "y")
        if re.search(r"(sh|ch|x|z|ss)es$", last):
            add(pre + last[:-2])
        if last.endswith("s") and not last.endswith("ss") and len(last) > 3:
            add(pre + last[:-1])
    return forms


def locate_words(sentences: Sequence[str], words: Sequence[str]) -> tuple[list[Occurrence], list[str], list[str]]:
    """Find which word of ``words`` each sentence is about, and where.

    Returns
    -------
    contexts : one :class:`Occurrence` per sentence in which a word was found (sentence order)
    owners : for every sentence the word found in it, "" where none was found
    missing : descriptions of the sentences in which no word was found
    """
    priority: dict[str, tuple[int, str]] = {}
    for rank in (0, 1):  # listed forms win over inflected ones (her vs hers)
        for w in words:
            forms = word_forms(w)
            for f in (forms[:1] if rank == 0 else forms[1:]):
                priority.setdefault(f, (rank, w))
    ordered = sorted(priority, key=len, reverse=True)
    body = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in ordered)
    pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    contexts, owners, missing = [], [], []
    for sent in sentences:
        best = None
        for m in pattern.finditer(sent):
            rank, word = priority[" ".join(m.group(0).lower().split())]
            key = (rank, -(m.end() - m.start()))
            if best is None or key < best[0]:
                best = (key, word, m.start(), m.end())
        if best is None:
            owners.append("")
            missing.append(f"{sent!r} (no word of the list found)")
        else:
            owners.append(best[1])
            contexts.append(Occurrence(best[1], sent, best[2], best[3]))
    return contexts, owners, missing


# --------------------------------------------------------------------------------------------------------- user tests
def query_from_dict(data: Mapping, *, name: str | None = None, source: str = "user") -> WeatQuery:
    """A query from a JSON object in the bundled or the short format (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise BiasTestError("a bias test must be a JSON object with targ1/targ2/attr1/attr2 or X/Y/A/B")
    name = str(name or data.get("name") or "").strip() or "user test"
    templates = data.get("templates") or ()
    if isinstance(templates, str):
        templates = [templates]
    if all(k in data for k in SET_KEYS):
        lists, names = [], []
        for k in SET_KEYS:
            part = data[k]
            if isinstance(part, Mapping):
                names.append(str(part.get("category") or part.get("name") or k))
                part = part.get("examples", part.get("words"))
            else:
                names.append(str(data.get(f"{k}_name") or k))
            if not isinstance(part, (list, tuple)):
                raise BiasTestError(f"test {name!r}: set {k} must be a list of words")
            lists.append(part)
        return replace(WeatQuery.from_words(name, *lists, names=names, templates=templates), source=source)
    _check_file_layout(data, f"test {name!r}")
    parts = [data[k] for k in _FILE_KEYS]
    examples = [list(p["examples"]) for p in parts]
    names = [str(p.get("category") or k) for p, k in zip(parts, SET_KEYS)]
    if all(_is_sentence_list(e) for e in examples) and not templates:
        sets = [TermSet(n, (), tuple(e)) for n, e in zip(names, examples)]
        return WeatQuery(name, *sets, source=source)
    return replace(WeatQuery.from_words(name, *examples, names=names, templates=templates), source=source)


def read_test_file(path_or_bytes, *, name: str = "tests.json") -> list[WeatQuery]:
    """Queries from a user JSON file: one test object, a list of them, or ``{"tests": [...]}``."""
    if isinstance(path_or_bytes, (str, Path)):
        path = Path(path_or_bytes)
        if not path.exists():
            raise BiasTestError(f"bias test file {str(path)!r} does not exist")
        raw, name = path.read_bytes(), path.name
    else:
        raw = bytes(path_or_bytes)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BiasTestError(f"{name} is not valid JSON: {exc}") from exc
    if isinstance(data, Mapping) and isinstance(data.get("tests"), list):
        data = data["tests"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BiasTestError(f"{name} holds no bias test")
    stem = Path(name).stem
    queries = []
    for i, item in enumerate(items):
        default = stem if len(items) == 1 else f"{stem}[{i}]"
        queries.append(query_from_dict(item, name=(item.get("name") if isinstance(item, Mapping) else None) or default,
                                       source=name))
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise BiasTestError(f"{name}: two tests share the name {next(n for n in names if names.count(n) > 1)!r}")
    return queries


def resolve_tests(names: Iterable[str] = (), files: Iterable = ()) -> list[WeatQuery]:
    """Bundled tests by name plus every test in the given files, in that order."""
    out = [load_bundled(n) for n in names]
    for f in files:
        out.extend(read_test_file(f))
    return out


# ------------------------------------------------------------------------------------------------------- my corpus
def corpus_query(query: WeatQuery, texts: Sequence[str], *, max_per_word: int | None = 20, drop_missing: bool = False,
                 seed=0, name: str | None = None) -> WeatQuery:
    """The same test with its contextual level taken from a corpus: the occurrences of each word in ``texts``.

    Each word is searched case-insensitively as a whole word (the listed form only, so that "bill" does not also find
    "bills"). At most ``max_per_word`` occurrences per word are kept (a seeded random sample, in corpus order), so that
    frequent words do not swamp rare ones. A word with no occurrence raises :class:`NoOccurrencesError` naming it, or,
    with ``drop_missing=True``, is listed in the set's ``missing`` (reported with every result). The word lists and
    any sentences are kept, so the word and sentence levels run as before; the query is named "NAME (corpus)" unless
    ``name`` is given.
    """
    if not query.X.words:
        raise BiasTestError(f"test {query.name!r} has no word lists, so its words cannot be looked up in a corpus")
    texts = [str(t) for t in texts]
    if not texts:
        raise NoOccurrencesError("the corpus has no documents")
    rng = np.random.default_rng(seed)
    sets, absent = [], []
    for key, s in zip(SET_KEYS, query.sets()):
        contexts, missing = [], list(s.missing)
        for w in s.words:
            body = re.escape(" ".join(w.split())).replace(r"\ ", r"\s+")
            pattern = re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)
            hits = [Occurrence(w, t, m.start(), m.end()) for t in texts for m in pattern.finditer(t)]
            if not hits:
                absent.append(f"{w!r} ({key}: {s.name})")
                missing.append(f"{w} (no occurrence in the corpus)")
                continue
            if max_per_word is not None and len(hits) > max_per_word:
                keep = np.sort(rng.choice(len(hits), size=max_per_word, replace=False))
                hits = [hits[i] for i in keep]
            contexts.extend(hits)
        sets.append(TermSet(s.name, s.words, s.sentences, s.sentence_words, tuple(contexts), tuple(missing)))
    if absent and not drop_missing:
        raise NoOccurrencesError(f"{len(absent)} word(s) do not occur in the corpus: {', '.join(absent[:8])}"
                                 f"{' ...' if len(absent) > 8 else ''}; remove them or choose to leave missing words out")
    for key, s in zip(SET_KEYS, sets):
        found = list(dict.fromkeys(c.word for c in s.contexts))
        if len(found) < 2:
            # name the words that are absent, so the user knows what to replace (not just that something is wrong)
            gone = [w for w in s.words if w not in found]
            shown = ", ".join(repr(w) for w in gone[:12]) + (" ..." if len(gone) > 12 else "")
            raise NoOccurrencesError(f"set {key} ({s.name}) has occurrences of fewer than two of its words in the "
                                     f"corpus ({len(found)} of {len(s.words)}; absent: {shown}); an association "
                                     "test needs at least two")
    return WeatQuery(name or f"{query.name} (corpus)", *sets, templates=query.templates,
                     source=f"{query.source} + corpus")
