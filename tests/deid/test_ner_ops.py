"""guard's NER runs on thinc ops with numpy's BLAS: it must find what stock spaCy finds."""

from __future__ import annotations

import json
from pathlib import Path

import spacy

from guard.deid.detector import EXCLUDED_COMPONENTS, SPACY_MODEL, build_nlp_engine

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "clinical_notes.jsonl"


def test_blas_ops_give_the_same_entities_as_stock_spacy() -> None:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()[:120]]
    stock = spacy.load(SPACY_MODEL, exclude=list(EXCLUDED_COMPONENTS))
    ours = build_nlp_engine().nlp["en"]
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
