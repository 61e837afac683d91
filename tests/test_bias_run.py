"""Bias tests end to end: bundled/user/corpus test loading, the three levels with a tiny random BERT, caching."""

from __future__ import annotations

import filecmp
import json

import numpy as np
import pytest

from analysis import encoder
from analysis.bias import (LEVELS, RECORD_KEYS, BiasTestError, EncodingCache, TermSet, WeatQuery, association, items_frame,
                           results_frame, run_bias, run_query)
from analysis.bias.sources import (BUNDLED_DIR, bundled_files, bundled_names, corpus_query, load_bundled, locate_words,
                                   read_test_file, word_forms)
from analysis.errors import NoOccurrencesError, TooFewPointsError
from tests.conftest import shared_or_skip


@pytest.fixture(scope="module")
def lm(tiny_bert):
    return encoder.load_model(tiny_bert)


@pytest.fixture(scope="module")
def shared_cache():
    """One encoding cache for the tests that do not count encodings (keeps the module fast)."""
    return EncodingCache()


# --- bundled tests -----------------------------------------------------------------------------------------------

def test_every_bundled_test_loads_and_the_batteries_cover_them():
    names = bundled_names()
    assert len(names) == 100 and {"weat6", "sent-weat6", "weat+i1", "sent-religion1"} <= set(names)
    by_level = {lv: bundled_names(lv) for lv in LEVELS}
    assert set(by_level["word"]) | set(by_level["sentence"]) == set(names)
    assert not set(by_level["word"]) & set(by_level["sentence"])
    for name in names:
        q = load_bundled(name)
        for lv, battery in by_level.items():
            if name in battery:
                assert lv in q.levels(), (name, lv)
    assert len(by_level["contextual"]) == 38


def test_pairs_merge_word_lists_and_sentences():
    q = load_bundled("weat6")
    assert q.levels() == ("word", "sentence", "contextual")
    assert q.X.name == "MaleNames" and q.A.name == "Career" and len(q.X.words) == 8
    assert len(q.X.sentences) == 64 and len(q.X.contexts) == 64 and not q.X.missing
    assert load_bundled("sent-weat6").X == q.X
    assert load_bundled("sent-religion1").levels() == ("sentence",)
    assert load_bundled("heilman_double_bind_competent_1").levels() == ("sentence",)
    assert load_bundled("project_implicit_native").levels() == ("word",)


def test_every_bundled_sentence_is_matched_to_a_word():
    for name in bundled_names("contextual"):
        q = load_bundled(name)
        for s in q.sets():
            assert not s.missing, (name, s.name, s.missing[:2])
            for c in s.contexts:
                assert c.form.lower() in word_forms(c.word) or " ".join(c.form.lower().split()) in word_forms(c.word)


def test_locate_words_prefers_listed_forms_and_inflects():
    sents = ["This is her.", "This is hers.", "These are women of color.", "This is a child.", "Nothing here."]
    ctx, owners, missing = locate_words(sents, ["her", "hers", "woman of color", "children"])
    assert owners == ["her", "hers", "woman of color", "children", ""]
    assert [c.form for c in ctx] == ["her", "hers", "women of color", "child"]
    assert len(missing) == 1 and "Nothing here." in missing[0]


@pytest.mark.slow
def test_bundled_copies_are_identical_to_the_shared_source():
    shared = shared_or_skip("weat_seat")
    files = bundled_files()
    for stem, path in files.items():
        rel = path.relative_to(BUNDLED_DIR)
        assert filecmp.cmp(path, shared / rel, shallow=False), rel
    assert (BUNDLED_DIR / "sent-bias" / "LICENSE").exists() and (BUNDLED_DIR / "SOURCE.md").exists()


def test_unknown_bundled_name_suggests():
    with pytest.raises(BiasTestError, match="did you mean.*weat6"):
        load_bundled("weat6x")


# --- user tests --------------------------------------------------------------------------------------------------

def test_user_files_in_both_formats(tmp_path):
    short = {"name": "mine", "X": ["john", "paul"], "Y": ["amy", "joan"], "A": ["office", "salary"],
             "B": ["home", "family"], "templates": ["This is {}.", "{} is here."]}
    long = json.loads((BUNDLED_DIR / "sent-bias" / "tests" / "weat6.jsonl").read_text())
    path = tmp_path / "tests.json"
    path.write_text(json.dumps([short, {**long, "name": "copy6"}]))
    a, b = read_test_file(path)
    assert a.name == "mine" and a.levels() == LEVELS and len(a.X.sentences) == 4
    assert b.name == "copy6" and b.X.name == "MaleNames" and b.levels() == ("word",)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**short, "templates": ["This is it."]}))
    with pytest.raises(BiasTestError, match="no \\{\\}"):
        read_test_file(bad)
    bad.write_text(json.dumps({**short, "Y": ["amy"]}))
    with pytest.raises(BiasTestError, match="only one word"):
        read_test_file(bad)
    bad.write_text("{not json")
    with pytest.raises(BiasTestError, match="not valid JSON"):
        read_test_file(bad)


# --- corpus contexts ---------------------------------------------------------------------------------------------

CORPUS = ["John went to the office to discuss his salary.", "Amy stayed home with her family.",
          "Paul runs a business; his office is downtown.", "Joan visited family at home.",
          "John and Paul met at home.", "Amy and Joan discussed the salary at the office."]
BASE = WeatQuery.from_words("mini", ["John", "Paul"], ["Amy", "Joan"], ["office", "salary"], ["home", "family"])


def test_corpus_query_finds_occurrences():
    q = corpus_query(BASE, CORPUS)
    assert q.levels() == ("word", "contextual")
    assert sorted(c.form for c in q.X.contexts) == ["John", "John", "Paul", "Paul"]
    assert all(c.text[c.start:c.end] == c.form for s in q.sets() for c in s.contexts)
    capped = corpus_query(BASE, CORPUS * 10, max_per_word=3)
    assert sum(c.word == "John" for c in capped.X.contexts) == 3


def test_corpus_query_word_absent_is_a_clear_error_or_listed():
    base = WeatQuery.from_words("mini", ["John", "Paul", "Zebedee"], ["Amy", "Joan", "Lisa"], ["office", "salary"],
                                ["home", "family"])
    with pytest.raises(NoOccurrencesError, match="'Zebedee'.*do not occur|do not occur.*'Zebedee'"):
        corpus_query(base, CORPUS)
    q = corpus_query(base, CORPUS, drop_missing=True)
    assert any("Zebedee" in m for m in q.X.missing) and any("Lisa" in m for m in q.Y.missing)
    with pytest.raises(NoOccurrencesError, match="fewer than two"):
        corpus_query(WeatQuery.from_words("m", ["John", "Zed"], ["Amy", "Joan"], ["office", "salary"],
                                          ["home", "family"]), CORPUS, drop_missing=True)


# --- running with a model ----------------------------------------------------------------------------------------

def test_three_levels_all_layers_and_records(lm):
    q = load_bundled("weat6")
    cache = EncodingCache()
    results, skipped = run_bias([q], [lm], levels=LEVELS, layers="all", permutations=2000, n_bootstrap=200,
                                cache=cache)
    assert not skipped and len(results) == 3 * lm.n_layers
    first = cache.encoded
    assert first == 32 + (64 * 2 + 101 + 112) * 2  # words once; sentences and their spans once each
    rec = results[-1].to_dict()
    assert list(rec)[:len(RECORD_KEYS)] == list(RECORD_KEYS)
    assert rec["level"] == "contextual" and rec["n_x"] == 64 and rec["n_a"] == 101
    json.dumps([r.to_dict() for r in results])  # plain JSON
    assert results[0].record() == results[0].to_dict()  # the old name, used by views/bias.py
    # a second run of the same battery encodes nothing new
    again, _ = run_bias([q], [lm], levels=LEVELS, layers="all", permutations=2000, n_bootstrap=200, cache=cache)
    assert cache.encoded == first
    assert [r.effect_size for r in again] == pytest.approx([r.effect_size for r in results], nan_ok=True)
    frame, items = results_frame(results), items_frame(results)
    assert len(frame) == len(results) and set(items["set"]) == {"X", "Y"}
    assert len(items) == lm.n_layers * (16 + 128 + 128)


def test_cached_vectors_equal_direct_encoding(lm, shared_cache):
    q = load_bundled("weat6")
    cache = shared_cache
    [res] = run_query(q, lm, "word", layers=[-1], permutations=500, n_bootstrap=0, cache=cache)
    words = [list(s.words) for s in q.sets()]
    vec = [encoder.embed_spans(lm, w, [(i, 0, len(t)) for i, t in enumerate(w)], layers=[-1])[:, 0] for w in words]
    s_x = association(vec[0], vec[2], vec[3])
    s_y = association(vec[1], vec[2], vec[3])
    d = (s_x.mean() - s_y.mean()) / np.concatenate([s_x, s_y]).std(ddof=1)
    assert res.effect_size == pytest.approx(d, rel=1e-5)
    assert [v for k, *_, v in res.items if k == "X"] == pytest.approx(s_x, rel=1e-5)


def test_battery_shares_encodings_between_tests(lm):
    cache = EncodingCache()
    tests = [load_bundled("weat6"), load_bundled("weat6b"), load_bundled("heilman_double_bind_competent_one_word")]
    run_bias(tests, [lm], levels=["word"], permutations=200, n_bootstrap=0, cache=cache)
    distinct = {w for q in tests for s in q.sets() for w in s.words}
    assert cache.encoded == len(distinct) < sum(len(s.words) for q in tests for s in q.sets())


def test_same_seed_same_results_and_holm(lm, shared_cache):
    tests = [load_bundled("weat6"), load_bundled("weat7")]
    a, _ = run_bias(tests, [lm], levels=["word"], permutations=300, n_bootstrap=100, seed=5, cache=shared_cache)
    b, _ = run_bias(tests, [lm], levels=["word"], permutations=300, n_bootstrap=100, seed=5, cache=shared_cache)
    assert [r.p_value for r in a] == [r.p_value for r in b] and [r.ci_low for r in a] == [r.ci_low for r in b]
    assert all(not r.exact and r.n_permutations == 300 for r in a)
    m = sorted(r.p_value for r in a)[0]
    assert min(r.p_holm for r in a) == pytest.approx(min(1.0, 2 * m))


def test_unavailable_levels_raise_or_are_skipped(lm, shared_cache):
    q = load_bundled("project_implicit_native")
    with pytest.raises(BiasTestError, match="cannot run at the sentence level"):
        run_bias([q], [lm], levels=["sentence"])
    sentences_only = WeatQuery("sents", *(TermSet(n, (), (f"This is {n} one.", f"That is {n} two."))
                                          for n in ("x", "y", "a", "b")))
    res, skipped = run_bias([q, sentences_only], [lm], levels=["word", "sentence"],
                            permutations=200, n_bootstrap=0, skip_unavailable=True, cache=shared_cache)
    assert {(r.test, r.level) for r in res} == {("project_implicit_native", "word"), ("sents", "sentence")}
    assert len(skipped) == 2


def test_words_the_tokenizer_cannot_supply_are_listed(lm):
    q = WeatQuery.from_words("unk", ["john", "paul", "\u2603\u2603"], ["amy", "joan", "lisa"], ["office", "salary"],
                             ["home", "family"], templates=["This is {}."])
    for level in LEVELS:
        [r] = run_query(q, lm, level, permutations=100, n_bootstrap=0)
        if level == "sentence":
            assert not r.missing and r.n_x == 3  # the sentence still has pieces
        else:
            assert r.n_x == 2 and any("\u2603" in m for m in r.missing), level
    tiny = WeatQuery.from_words("unk2", ["john", "\u2603"], ["amy", "joan"], ["office", "salary"], ["home", "family"])
    with pytest.raises(TooFewPointsError, match="set X"):
        run_query(tiny, lm, "word")


def test_word_unit_and_corpus_contexts(lm):
    q = corpus_query(BASE, CORPUS)
    [item] = run_query(q, lm, "contextual", permutations=5000, n_bootstrap=0)
    [word] = run_query(q, lm, "contextual", unit="word", permutations=5000, n_bootstrap=0)
    assert item.n_x == word.n_x == 4 and item.effect_size == pytest.approx(word.effect_size)
    assert word.exact and word.n_permutations == 6  # C(4, 2) partitions of four words
    assert item.exact and item.n_permutations == 70  # C(8, 4) partitions of eight occurrences


def test_a_test_gives_the_same_numbers_alone_and_in_a_battery(lm, shared_cache):
    alone, _ = run_bias([load_bundled("weat7")], [lm], levels=["word"], permutations=400, n_bootstrap=50, seed=2,
                        cache=shared_cache)
    battery, _ = run_bias([load_bundled(n) for n in ("weat8", "weat7", "weat6")], [lm], levels=["word"],
                          permutations=400, n_bootstrap=50, seed=2, cache=shared_cache)
    assert [r.test for r in battery] == ["weat8", "weat7", "weat6"]  # the order of the queries
    [same] = [r for r in battery if r.test == "weat7"]
    assert (same.p_value, same.ci_low, same.ci_high) == (alone[0].p_value, alone[0].ci_low, alone[0].ci_high)


@pytest.mark.slow
def test_minilm_reproduces_the_flowers_insects_association(minilm_path):
    """WEAT 1 (flowers vs insects x pleasant vs unpleasant) is the most robust finding of Caliskan et al.; the packaged
    MiniLM shows it at the word and the contextual level."""
    lm = encoder.load_model(minilm_path)
    q = load_bundled("weat1")
    results, _ = run_bias([q], [lm], levels=["word", "contextual"], permutations=5000, n_bootstrap=500)
    for r in results:
        assert r.effect_size > 0.8 and r.p_value < 0.01 and r.ci_low > 0, r.to_dict()


def test_resolve_layers_reads_every_layer_spec(lm):
    from analysis.bias import model_layers
    from analysis.errors import ConfigError

    top = lm.n_layers - 1
    assert model_layers(lm, None) == [top]
    assert model_layers(lm, "all") == list(range(lm.n_layers))
    assert model_layers(lm, "1-2") == [1, 2]
    assert model_layers(lm, [-1, 0, -1]) == [0, top]
    assert model_layers(lm, 2) == [2]
    with pytest.raises(ConfigError, match=f"layer {lm.n_layers + 5} is not in model"):
        model_layers(lm, lm.n_layers + 5)
    with pytest.raises(ConfigError, match="cannot read"):
        model_layers(lm, "last")


def test_encoding_cache_is_bounded_and_forgets_the_least_recently_used(lm):
    from analysis.bias.encoding import _level_items

    q = load_bundled("weat6")
    first, second = (_level_items(q, "word")[i] for i in (0, 1))  # 8 + 8 words
    one = lm.dim * 4  # bytes of one float32 vector
    cache = EncodingCache(max_bytes=10 * one)
    reference = EncodingCache()
    a = cache.vectors(lm, "word", "mean", first, [-1])
    assert len(cache) == 8 and cache.encoded == 8
    cache.vectors(lm, "word", "mean", first[4:], [-1])  # now the most recently used of the first set
    b = cache.vectors(lm, "word", "mean", second, [-1])
    assert len(cache) == 10 and cache.nbytes <= cache.max_bytes and cache.encoded == 16
    np.testing.assert_array_equal(a, reference.vectors(lm, "word", "mean", first, [-1]))
    np.testing.assert_array_equal(b, reference.vectors(lm, "word", "mean", second, [-1]))
    cache.vectors(lm, "word", "mean", first[6:], [-1])  # kept: used more recently than first[:6]
    assert cache.encoded == 16
    again = cache.vectors(lm, "word", "mean", first[:2], [-1])  # forgotten: encoded again, same vectors
    assert cache.encoded == 18
    np.testing.assert_allclose(again, a[:2], rtol=1e-5, atol=1e-6)  # another batch: float rounding only
    # one call asking for more than the cache holds still gets every vector
    tiny = EncodingCache(max_bytes=3 * one)
    np.testing.assert_array_equal(tiny.vectors(lm, "word", "mean", first, [-1]), a)
    assert len(tiny) == 3
    # tokenizer checks are bounded too
    small = EncodingCache(max_strings=5)
    assert small.unknown(lm, [f"w{i}" for i in range(20)] + ["\u2603"]) == {"\u2603"}
    assert len(small._unk) == 5
    assert EncodingCache().max_bytes == 512 * 2 ** 20
