"""The base every guard recognizer shares: a Presidio result that carries the rule that
found it, and a recognizer of one entity type. Its own module so that the recognizers
(addresses, identifiers, names, phones) and their registry (`guard.deid.recognizers`)
do not import each other."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


def inside_any(spans: Iterable[tuple[int, int]]) -> Callable[[int, int], bool]:
    """A test of whether [start, end) lies inside one of `spans`, in log time (a scan of
    every span for every candidate made long texts with many names quadratic)."""
    ordered = sorted(spans)
    starts = [a for a, _ in ordered]
    reach = list(itertools.accumulate((b for _, b in ordered), max))

    def inside(start: int, end: int) -> bool:
        i = bisect.bisect_right(starts, start)
        return i > 0 and reach[i - 1] >= end

    return inside


def make_result(
    recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float, rule: str
) -> RecognizerResult:
    """A Presidio result carrying the explanation that a context boost writes to."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=recognizer.name, original_score=score, textual_explanation=rule
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
            "rule": rule,
        },
    )


class OneEntityRecognizer(EntityRecognizer):
    """A recognizer of one entity type with nothing to load: `analyze` returns `find`'s results
    unless the caller asked only for other entity types."""

    def load(self) -> None:  # nothing to load
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        return self.find(text, entity, nlp_artifacts)

    def find(self, text: str, entity: str, nlp_artifacts: NlpArtifacts | None) -> list[RecognizerResult]:
        raise NotImplementedError


__all__ = ["OneEntityRecognizer", "make_result"]
