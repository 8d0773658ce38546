"""Release: the report that says whether a model ships, the gate that decides it in
CI, and the demo that runs the whole pipeline into both.

- `build_report` / `write_report`: a run directory, the de-identification reports
  and the audits' findings -> `ReleaseReport` (typed `ReportContent`, charts) ->
  report.html, report.json, MODEL_CARD.md (jinja2 templates, autoescaped).
- `compare_reports` / `load_baseline`: this run beside a baseline (`guard report --baseline`):
  each metric's difference, its interval and whether it is significant.
- `check_report`: report.json verified against its run and sources, then judged by
  a release policy TOML; the gate is the table `THRESHOLDS`, judged by one loop.
- `run_demo`: scrub -> dedup -> residual PII -> federate -> audits -> report -> check
  on the example corpus shipped as package data (`guard.examples`).

Importing this package loads no torch, Presidio or matplotlib.
"""

from guard.release.compare import Comparison, Delta, compare_reports
from guard.release.content import FILES, SECTIONS, ReportContent
from guard.release.demo import STAGES, DemoResult, DemoSettings, run_demo
from guard.release.gate import (
    THRESHOLDS,
    CheckOutcome,
    CheckResult,
    Direction,
    ReleaseCheckFailed,
    ReleasePolicy,
    ReleasePolicyError,
    Threshold,
    evaluate,
    load_release_policy,
    parse_release_policy,
)
from guard.release.report import ReleaseReport, build_report, load_baseline, write_report
from guard.release.verify import check_report, read_report_json, verify_report

__all__ = [
    "FILES",
    "SECTIONS",
    "STAGES",
    "THRESHOLDS",
    "CheckOutcome",
    "CheckResult",
    "Comparison",
    "Delta",
    "DemoResult",
    "DemoSettings",
    "Direction",
    "ReleaseCheckFailed",
    "ReleasePolicy",
    "ReleasePolicyError",
    "ReleaseReport",
    "ReportContent",
    "Threshold",
    "build_report",
    "check_report",
    "compare_reports",
    "evaluate",
    "load_baseline",
    "load_release_policy",
    "parse_release_policy",
    "read_report_json",
    "run_demo",
    "verify_report",
    "write_report",
]
