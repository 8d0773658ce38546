"""Every speed-up in the detector must find exactly what the slow path finds.

Each test runs one optimization and the path it replaced on a varied sample (every
tenth text of the four labelled sets and of the example notes: templated records,
blind-written texts in many languages, Reddit comments, Wikipedia, clinical notes)
and asserts the same results, in the same order, with the same scores and rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guard.core.policy import Policy
from guard.deid.detector import LANGUAGE, Detector

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "tests" / "data").glob("deid_*.jsonl")),
    ROOT / "examples" / "clinical_notes.jsonl",
]


def _sample(step: int = 10) -> list[str]:
    texts: list[str] = []
    for path in SOURCES:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts.extend(str(r["text"]) for r in rows[::step])
    return texts


def _key(results: list) -> list[tuple]:  # type: ignore[type-arg]
    """Everything about a result that reaches guard: span, type, score, recognizer, rule."""
    return [
        (
            r.start,
            r.end,
            r.entity_type,
            round(float(r.score), 9),
            (r.recognition_metadata or {}).get("recognizer_name"),
            (r.recognition_metadata or {}).get("rule"),
        )
        for r in results
    ]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(Policy())


@pytest.fixture(scope="module")
def sample() -> list[str]:
    texts = _sample()
    assert len(texts) > 300
    return texts


@pytest.mark.slow
def test_grouped_context_step_gives_presidios_results(detector: Detector, sample: list[str]) -> None:
    """guard's analyzer (context step grouped by recognizer, recognizers cached per request,
    context words read from lemmas lowered once per text) returns what Presidio's own
    AnalyzerEngine and context enhancer return on the same registry and NLP output."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    fast = detector.analyzer
    assert type(fast) is not AnalyzerEngine
    assert type(fast.context_aware_enhancer) is not LemmaContextAwareEnhancer
    slow = AnalyzerEngine(
        registry=fast.registry,
        nlp_engine=detector.nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=LemmaContextAwareEnhancer(),
    )
    entities = list(detector.entities)
    found = 0
    for text, doc in zip(sample, detector._nlp.pipe(sample, batch_size=64)):
        want = slow.analyze(
            text, LANGUAGE, entities=entities, nlp_artifacts=detector.nlp_engine._doc_to_nlp_artifact(doc, LANGUAGE)
        )
        got = fast.analyze(
            text, LANGUAGE, entities=entities, nlp_artifacts=detector.nlp_engine._doc_to_nlp_artifact(doc, LANGUAGE)
        )
        assert _key(got) == _key(want)
        found += len(got)
    assert found > 1000  # the sample exercises many recognizers


def test_cached_recognizer_list_equals_a_fresh_one(detector: Detector) -> None:
    registry = detector.analyzer.registry
    entities = list(detector.entities)
    registry.__dict__.pop("_guard_recognizer_cache", None)
    fresh = registry.get_recognizers(LANGUAGE, entities)
    cached = registry.get_recognizers(LANGUAGE, entities)
    assert [id(r) for r in cached] == [id(r) for r in fresh]
    assert cached is not fresh  # a copy: a caller may change its list


def test_recognizer_cache_follows_a_changed_registry() -> None:
    from presidio_analyzer import Pattern, PatternRecognizer

    registry = Detector(Policy()).analyzer.registry
    before = registry.get_recognizers(LANGUAGE, ["PERSON"])
    extra = PatternRecognizer(supported_entity="PERSON", name="ExtraPerson", patterns=[Pattern("p", r"\bZz\w+", 0.5)])
    registry.add_recognizer(extra)
    after = registry.get_recognizers(LANGUAGE, ["PERSON"])
    assert extra not in before and extra in after
    registry.remove_recognizer("ExtraPerson")
    assert extra not in registry.get_recognizers(LANGUAGE, ["PERSON"])


@pytest.mark.slow
def test_kept_phone_patterns_give_the_same_phones(detector: Detector, sample: list[str]) -> None:
    """libphonenumber with its pattern cache (what the detector turns on) against the
    same recognizer compiling through `re`'s bounded cache, as it did before."""
    from phonenumbers import re_util

    phones = next(r for r in detector.analyzer.registry.recognizers if r.name == "PhoneRecognizer")
    assert re_util._COMPILED_PATTERNS is not None  # the detector turned the cache on
    kept = re_util._COMPILED_PATTERNS
    texts = [t for t in sample if any(c.isdigit() for c in t)]
    got = [_key(phones.analyze(t, ["PHONE_NUMBER"])) for t in texts]
    re_util._COMPILED_PATTERNS = None
    try:
        want = [_key(phones.analyze(t, ["PHONE_NUMBER"])) for t in texts]
    finally:
        re_util._COMPILED_PATTERNS = kept
    assert got == want
    assert sum(map(len, got)) > 50


def test_artifacts_read_the_entities_once_with_presidios_scores(detector: Detector) -> None:
    """guard's NLP artifacts hold the entities and scores Presidio's engine methods give."""
    engine = detector.nlp_engine
    texts = _sample(step=40)
    for doc in detector._nlp.pipe(texts, batch_size=64):
        got = engine._doc_to_nlp_artifact(doc, LANGUAGE)
        ents, scores = engine._get_updated_entities(list(doc.ents), engine._get_scores_for_entities(doc))
        assert [(e.start_char, e.end_char, e.label_) for e in got.entities] == [
            (e.start_char, e.end_char, e.label_) for e in ents
        ]
        assert got.scores == scores


def test_inside_any_agrees_with_a_scan_of_every_span() -> None:
    import random

    from guard.deid._recognizer import inside_any

    rng = random.Random(7)
    for _ in range(200):
        spans = [(a, a + rng.randint(0, 12)) for a in (rng.randint(0, 60) for _ in range(rng.randint(0, 8)))]
        inside = inside_any(spans)
        for _ in range(30):
            s = rng.randint(0, 70)
            e = s + rng.randint(0, 10)
            assert inside(s, e) == any(a <= s and e <= b for a, b in spans), (spans, s, e)


def test_postcode_at_line_end_is_found_as_a_search_of_the_whole_line_finds_it() -> None:
    """`_code_at_end` looks at the last characters before `end` only; the search of the
    whole line it replaced must agree at every position where a postcode could end."""
    from guard.deid import addresses as A

    texts = _sample(step=3)
    checked = found = 0
    for text in texts:
        for end in {m.end() for m in A.regex.finditer(r"[\p{L}\p{N}][ \t]*", text)}:
            want = bool(A._CODE_AT_END_RX.search(text, A._line_start(text, end), end))
            assert A._code_at_end(text, end) == want, (text[:40], end)
            checked += 1
            found += want
    assert checked > 10000 and found > 100


@pytest.mark.parametrize("rx_name", ["JAPANESE", "KOREAN"])
def test_cjk_address_shapes_start_only_where_a_run_starts(rx_name: str) -> None:
    """The kana/kanji (or Hangul) before an address's number is matched from the start of
    its run only: a shape that could start at every character made long unspaced text
    quadratic. A start inside a run is never the leftmost match, so nothing is lost."""
    from guard.deid import addresses as A

    rx = A.regex.compile(getattr(A, rx_name))
    text = "東京都新宿区西新宿2丁目8番1号" if rx_name == "JAPANESE" else "부산광역시 동래구 충렬대로 79"
    assert rx.match(text).group() == text
    assert rx.match(text, 1) is None


def _tokens_with_and_without(tokenizer, attr: str, original, texts: list[str]) -> tuple[list, list]:  # type: ignore[no-untyped-def, type-arg]
    """The (start, text) tokens of `texts` with the tokenizer's `attr` as the detector set
    it, then with spaCy's `original` in its place (put back afterwards)."""

    def cut() -> list[list[tuple[int, str]]]:
        return [[(t.idx, t.text) for t in tokenizer(text)] for text in texts]

    wrapped = getattr(tokenizer, attr)
    got = cut()
    setattr(tokenizer, attr, original)
    try:
        want = cut()
    finally:
        setattr(tokenizer, attr, wrapped)
    return got, want


def test_suffix_search_over_a_chunks_tail_tokenizes_as_spacy_does(detector: Detector, sample: list[str]) -> None:
    """The detector's tokenizer searches for suffixes in a chunk's last characters only
    (long runs of "!" or emoji were quadratic); on real texts and on long random runs of
    affix characters, letters, digits and dots it cuts the tokens spaCy's own search cuts."""
    import random

    from guard.deid.detector import TailSuffixSearch

    tokenizer = detector._nlp.tokenizer
    tail = tokenizer.suffix_search
    assert isinstance(tail, TailSuffixSearch)
    rng = random.Random(11)
    pieces = [".", "...", "!", ")", "(", "%", "$", "🙂", "a", "B", "7", "'", '"', "-", ",", "km", "'s", "…", "]", " "]
    texts = sample + [
        "".join(rng.choice(pieces[: -1 if i % 2 else None]) for _ in range(rng.randint(20, 200)))
        + rng.choice(["", "." * rng.randint(90, 130), "!" * rng.randint(90, 130)])
        for i in range(400)
    ]

    got, want = _tokens_with_and_without(tokenizer, "suffix_search", tail.search, texts)
    assert got == want
    assert max(len(t) for t in texts) > 2 * TailSuffixSearch.WINDOW


def test_url_patterns_tried_near_a_top_level_domain_match_as_a_plain_finditer(sample: list[str]) -> None:
    """Presidio's URL patterns, tried only at starts within reach of "." and a top-level
    domain (a long dotted token without one was 1 ms a character), give the matches that
    the pattern's own `finditer` gives: on the sample's tokens and on random tokens of
    domain labels, dots, hyphens, quotes, schemes and paths."""
    import random

    import regex
    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    from guard.deid.detector import _URL_TOKEN, _url_recognizer

    recognizer = _url_recognizer()
    recognizer.analyze("warm www.example.org up", ["URL"])
    rng = random.Random(5)
    parts = "a b7 www . . - com co uk org A. ' \" http:// https:// /x?y=1 _".split()
    tokens = [m.group() for text in sample for m in _URL_TOKEN.finditer(text)]
    tokens += ["".join(rng.choice(parts) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    tokens += ["a." * 200 + "com", "x" * 300 + ".com", "'" + "b." * 150 + "uk'"]
    flags = UrlRecognizer().global_regex_flags
    compared = found = 0
    for pattern in recognizer.patterns:
        pruned = pattern.compiled_regex
        plain = regex.compile(pattern.regex, flags=flags)
        assert type(pruned) is not type(plain)
        for token in tokens:
            want = [m.span() for m in plain.finditer(token)]
            assert [m.span() for m in pruned.finditer(token)] == want, (pattern.name, token)
            compared += 1
            found += len(want)
    assert compared > 10000 and found > 1000
    # Presidio's own class patterns are untouched: a plain Presidio in the same process (the
    # bench's baseline, the second opinion) keeps its own matching
    assert not any(
        isinstance(p.compiled_regex, type(recognizer.patterns[0].compiled_regex)) for p in UrlRecognizer.PATTERNS
    )


def test_url_match_asked_only_of_dotted_chunks_tokenizes_as_spacy_does(detector: Detector, sample: list[str]) -> None:
    """spaCy's URL match is skipped for chunks without a dot (no URL host lacks one); the
    tokens of the sample and of random URL-like chunks are those of spaCy's own match."""
    import random

    from guard.deid.detector import DottedUrlMatch

    tokenizer = detector._nlp.tokenizer
    dotted = tokenizer.url_match
    assert isinstance(dotted, DottedUrlMatch)
    rng = random.Random(3)
    parts = "a b7 www . - : @ :// http https / ? # = 10 192 168 com uk ( ) , _".split()
    texts = sample + ["".join(rng.choice(parts) for _ in range(rng.randint(1, 30))) for _ in range(2000)]
    texts += [
        rng.choice(["", "http://", "ftp://"])
        + rng.choice(["", "user:pw@", "a@"])
        + rng.choice(["example.com", "sub.example.co.uk", "10.0.0.7", "8.8.8.8", "localhost", "examplecom"])
        + rng.choice(["", ":8080", ":1"])
        + rng.choice(["", "/", "/a/b?c=1#d", "/x.html"])
        for _ in range(500)
    ]

    assert sum(bool(dotted(t)) for t in texts) > 100
    got, want = _tokens_with_and_without(tokenizer, "url_match", dotted.match, texts)
    assert got == want


def test_second_opinion_tokenizes_hostile_runs_in_linear_time() -> None:
    """The second opinion (plain Presidio over the scrubbed corpus, where hostile runs
    survive) uses the same linear suffix search and URL match; what it finds is unchanged."""
    from guard.deid.baseline import PresidioDetector
    from guard.deid.detector import DottedUrlMatch, TailSuffixSearch

    tokenizer = PresidioDetector().engine.nlp[LANGUAGE].tokenizer
    assert isinstance(tokenizer.suffix_search, TailSuffixSearch)
    assert isinstance(tokenizer.url_match, DottedUrlMatch)
    tokens = [t.text for t in tokenizer("Call me (at home)!!! www.example.org.")]
    assert tokens[-4:] == ["!", "!", "www.example.org", "."]


def test_remembered_phone_matches_equal_fresh_matchers(sample: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import guard.deid.phones as phones

    recognizer = phones.FastPhoneRecognizer()
    phones._memo_matches.cache_clear()
    cold = [_key(recognizer.analyze(t, ["PHONE_NUMBER"])) for t in sample]
    warm = [_key(recognizer.analyze(t, ["PHONE_NUMBER"])) for t in sample]  # every window remembered
    assert phones._memo_matches.cache_info().hits > 0
    monkeypatch.setattr(phones, "_region_matches", phones._memo_matches.__wrapped__)
    fresh = [_key(recognizer.analyze(t, ["PHONE_NUMBER"])) for t in sample]
    assert cold == warm == fresh
    assert sum(map(len, fresh)) > 100
