"""guard's NER runs without the tagger and lemmatizer, on thinc ops with numpy's BLAS:
it must find exactly what the full stock pipeline (plain Presidio's) finds."""

from __future__ import annotations

import json
from pathlib import Path

import spacy

from guard.deid.detector import EXCLUDED_COMPONENTS, SPACY_MODEL, build_nlp_engine

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "clinical_notes.jsonl"
# "22 Sep 2020" in one of these is one entity without the parser, two with it
EVAL = Path(__file__).resolve().parents[2] / "tests" / "data" / "deid_eval.jsonl"


def test_guard_pipeline_gives_the_full_stock_pipelines_entities() -> None:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()[:120]]
    texts += [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines()]
    stock = spacy.load(SPACY_MODEL)
    ours = build_nlp_engine().nlp["en"]
    assert not set(EXCLUDED_COMPONENTS) & set(ours.pipe_names)
    ops = {type(node.ops).__name__ for node in ours.get_pipe("ner").model.walk()}
    assert "BlasOps" in ops
    want = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in stock.pipe(texts)]
    got = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in ours.pipe(texts)]
    assert sum(map(len, want)) > 100
    assert got == want


def test_loading_leaves_the_global_thinc_ops_alone() -> None:
    from thinc.api import get_current_ops

    before = type(get_current_ops())
    build_nlp_engine()
    assert type(get_current_ops()) is before
