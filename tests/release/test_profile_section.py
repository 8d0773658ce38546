"""The corpus profile in the release report: its summary and gated numbers in the data
section, the four [data] gate rows judging them, the section and its charts in the page,
and `guard check` recomputing the numbers from the profile file (and noticing a change)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from guard.quality import ProfileOptions, profile_corpus, release_evidence
from guard.release.gate import evaluate, parse_release_policy
from guard.release.sections import data_section
from tests.quality.corpora import clean_rows, write_jsonl

POLICY = {"max_duplicate_rate": 0.01, "max_missing_rate": 0.01, "max_control_char_rate": 0.0, "min_group_share": 0.05}


def _profile(tmp_path: Path, *, tiny_group: bool) -> Path:
    rows = clean_rows(300)
    if tiny_group:
        for i in range(6):  # 2 %
            rows[i * 50]["site"] = "islands"
    rows[7]["text"] = rows[8]["text"]
    for r in rows:
        r["label"] = "pos" if random.Random(r["id"]).random() < 0.5 else "neg"
    options = ProfileOptions(label_field="label", group_fields=("site",), pii=False)
    out = tmp_path / ("tiny.json" if tiny_group else "ok.json")
    profile_corpus(write_jsonl(tmp_path / "c.jsonl", rows), options=options).write(out)
    return out


def test_data_section_holds_the_profile_summary_and_its_gated_numbers(tmp_path: Path) -> None:
    path = _profile(tmp_path, tiny_group=True)
    data = data_section(None, None, None, profile=path)
    summary = data["profile"]
    assert summary["records"] == 300 and summary["duplicates"]["exact"] == 1
    assert summary["evidence"] == {
        "corpus_duplicate_rate": pytest.approx(1 / 300),
        "corpus_missing_rate": 0.0,
        "corpus_control_char_rate": 0.0,
        "corpus_min_group_share": pytest.approx(0.02),
    }
    assert set(summary["fields"]) == {"text", "label", "site"}  # only the profiled fields, not "id"
    assert data["sources"]["profile"]["sha256"] and data["sources"]["profile"]["path"] == str(path.resolve())


def test_the_gate_judges_the_profile_rows(tmp_path: Path) -> None:
    policy = parse_release_policy({"data": POLICY}, source="p.toml")
    for tiny, passed in ((True, False), (False, True)):
        summary = data_section(None, None, None, profile=_profile(tmp_path, tiny_group=tiny))["profile"]
        evidence = {k: {"value": v} for k, v in summary["evidence"].items()}
        outcome = evaluate(policy, evidence)
        failed = {r.name for r in outcome.failures}
        assert outcome.passed is passed and failed == ({"min_group_share"} if tiny else set())
    missing = evaluate(policy, {})
    assert all("no evidence" in r.reason for r in missing.results)


def test_the_page_shows_the_profile_section_and_its_charts(tmp_path: Path, small_run: Path) -> None:
    from guard.release import build_report
    from guard.release.figures import draw_figures

    report = build_report(small_run)
    summary = data_section(None, None, None, profile=_profile(tmp_path, tiny_group=True))["profile"]
    data = {**report.content.data, "profile": summary}
    content = dataclasses.replace(report.content, data=data)
    parts = {
        "data": data,
        "training": content.training,
        "privacy": content.privacy,
        "fairness": content.fairness,
        "explanations": content.explanations,
    }
    figures = draw_figures(parts, {})
    assert {"data_profile_lengths", "data_profile_groups"} <= set(figures)
    page = dataclasses.replace(report, content=content, figures=figures).html()
    assert 'id="corpus-profile"' in page and 'id="fig-data_profile_groups"' in page
    assert "small_group" in page and "Cramer's V" in page and "islands" in page


@pytest.mark.slow
def test_report_with_profile_is_gated_and_guard_check_recomputes_it(tmp_path: Path, small_run: Path) -> None:
    from guard import api

    path = _profile(tmp_path, tiny_group=False)
    policy = tmp_path / "policy.toml"
    policy.write_text("[data]\n" + "".join(f"{k} = {v}\n" for k, v in POLICY.items()), encoding="utf-8")
    result = api.report(small_run, tmp_path / "report", profile=path, policy=policy)
    assert result.report.content.evidence["corpus_min_group_share"].value == pytest.approx(
        release_evidence(json.loads(path.read_text(encoding="utf-8")))["corpus_min_group_share"]
    )
    outcome = api.check(result.files["report.json"], policy)
    assert outcome.passed, outcome.to_json()
    path.write_text(path.read_text().replace('"records": 300', '"records": 299'), encoding="utf-8")
    changed = api.check(result.files["report.json"], policy)
    assert not changed.passed and any(r.name == "profile_file" for r in changed.mismatches)
