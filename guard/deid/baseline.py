"""Plain Presidio, as a user who installs it gets it, on guard's offline spaCy model.

guard's promise is to find at least what this finds (see `guard.deid.detector`), and
three places need the very same reference: the evaluation bench, the recall-first
test, and the second opinion in the release report (`guard scan --detector presidio`).

"Plain" means: Presidio's own NLP configuration (`presidio_analyzer/conf/default.yaml`:
spaCy entity mapping and ignored labels) with only the model name changed to the
offline copy, the full spaCy pipeline, the default recognizer registry, and Presidio's
default score threshold (0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guard.deid._nlp import LANGUAGE, SPACY_MODEL, ner_model_configuration, offline_env, presidio_nlp_configuration


def plain_presidio(*, nlp: Any = None):  # type: ignore[no-untyped-def]
    """(nlp_engine, AnalyzerEngine) of plain Presidio. `nlp`: an already loaded full spaCy
    pipeline of the same model to share (saves a second load); by default it is loaded."""
    offline_env()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider, SpacyNlpEngine

    if nlp is None:
        engine = NlpEngineProvider(nlp_configuration=presidio_nlp_configuration()).create_engine()
    else:
        engine = SpacyNlpEngine(
            models=presidio_nlp_configuration()["models"], ner_model_configuration=ner_model_configuration()
        )
        engine.nlp = {LANGUAGE: nlp}
    return engine, AnalyzerEngine(nlp_engine=engine, supported_languages=[LANGUAGE])


def presidio_results(engine: Any, analyzer: Any, texts: list[str], *, batch_size: int = 64) -> list[list[Any]]:
    """Presidio's RecognizerResults for each text (spaCy run once per batch, as Presidio's
    BatchAnalyzerEngine does), at Presidio's default threshold."""
    out = []
    for text, doc in zip(texts, engine.nlp[LANGUAGE].pipe(texts, batch_size=batch_size)):
        artifacts = engine._doc_to_nlp_artifact(doc, LANGUAGE)
        out.append(analyzer.analyze(text, language=LANGUAGE, nlp_artifacts=artifacts))
    return out


class PresidioDetector:
    """Plain Presidio behind guard's detector interface (`entities`, `detect_batch`):
    the second opinion `guard scan --detector presidio` gives on a scrubbed corpus."""

    name = "presidio"

    def __init__(self) -> None:
        from guard.deid.detector import linear_tokenizer

        self.engine, self.analyzer = plain_presidio()
        # the same tokens in linear time: a scrubbed corpus keeps hostile runs ("!!!...")
        linear_tokenizer(self.engine.nlp[LANGUAGE])
        self.entities = tuple(sorted(self.analyzer.get_supported_entities(language=LANGUAGE)))

    def detect_batch(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[Any]]:
        from guard.deid.detector import Detection, resolve_overlaps

        return [
            resolve_overlaps(
                [Detection(r.start, r.end, r.entity_type, float(r.score), "presidio") for r in res if r.end > r.start]
            )
            for res in presidio_results(self.engine, self.analyzer, list(texts), batch_size=batch_size)
        ]


__all__ = [
    "LANGUAGE",
    "SPACY_MODEL",
    "PresidioDetector",
    "ner_model_configuration",
    "plain_presidio",
    "presidio_nlp_configuration",
    "presidio_results",
]
