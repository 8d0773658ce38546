"""Fairness mitigation by post-processing: fairlearn's `ThresholdOptimizer` fitted over an
audit model's positive-class score, saved beside the model as JSON (never a pickle), and
applied by the fairness audit, which reports each gap before and after with intervals and
the accuracy it cost.

    result = fit_mitigation("adult.skops", data="adult.csv", sensitive=["sex"])  # -> adult.skops.mitigation.json
    mitigation = read_mitigation(result.path)
    pred = mitigation.predict(scores, keys)    # == ThresholdOptimizer.predict(..., random_state=seed)

Where the file lives (`mitigation_path`): beside a model file, `MODEL.mitigation.json`
(e.g. `adult.skops.mitigation.json`); for a model folder (run directory, guard model, Hugging
Face checkpoint), `FOLDER/mitigation.json`. For a run directory that is outside `model/`, so
the run's content hash (audits._run) does not change.

What is saved: per group (the `audits.fairness.group_keys` string of the sensitive columns) the
interpolation fairlearn computed (`ThresholdOptimizer.interpolated_thresholder_.interpolation_dict`:
with probability p0 apply operation0, else operation1, each a threshold `score > t` or
`score < t`; for equalized odds, with probability p_ignore predict the constant instead), plus
the model's hash (a file's sha256, a run's content hash, or a folder's file hashes), classes,
positive class, constraint, objective, sensitive columns, the fit split (data file sha256, the
fit records' line numbers and their hash, fraction, seed) and the fairlearn version. Applying it
draws `numpy.random.RandomState(seed).rand(n)` exactly as fairlearn's `InterpolatedThresholder`
does, so the predictions equal fairlearn's own for the same scores, groups and seed.

The post-processor is fitted on a seeded split of the records stratified by group and label
(`fit_fraction`); it is evaluated on the rest. The fairness audit leaves out the fit records
(by line) whenever it audits the same data file, and says in every finding what it evaluated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audits.findings import AuditError, AuditFinding, AuditReport, finished_report
from guard.core import schema
from guard.core.errors import InputError
from guard.core.files import file_sha256, package_versions, read_json
from guard.core.io import write_text_atomic

logger = logging.getLogger(__name__)

MITIGATION_SCHEMA = schema.MITIGATION
CHECK = "mitigation"  # the fairness audit's check name for these findings (FairnessCheck.MITIGATION)
MITIGATION_FILE = "mitigation.json"  # inside a model folder
MITIGATION_SUFFIX = ".mitigation.json"  # beside a model file
METHOD = "fairlearn.ThresholdOptimizer"

Constraint = Literal[
    "demographic_parity",
    "selection_rate_parity",
    "equalized_odds",
    "true_positive_rate_parity",
    "false_positive_rate_parity",
    "true_negative_rate_parity",
    "false_negative_rate_parity",
]
Objective = Literal[
    "accuracy_score", "balanced_accuracy_score", "selection_rate", "true_positive_rate", "true_negative_rate"
]
CONSTRAINTS: tuple[str, ...] = Constraint.__args__  # type: ignore[attr-defined]
OBJECTIVES: tuple[str, ...] = Objective.__args__  # type: ignore[attr-defined]
EQUALIZED_ODDS_OBJECTIVES = ("accuracy_score", "balanced_accuracy_score")  # fairlearn allows only these for EO


# gap metric -> (fairlearn.metrics function name, bootstrap replicate of the gap from fairness._bootstrap's output)
def _dp(boot: dict[str, np.ndarray]) -> np.ndarray:
    from audits._groups import _spread

    return _spread(boot["selection_rate"])[0]


def _eo(boot: dict[str, np.ndarray]) -> np.ndarray:
    from audits._groups import _spread

    return np.maximum(_spread(boot["tpr"])[0], _spread(boot["fpr"])[0])


def _tpr(boot: dict[str, np.ndarray]) -> np.ndarray:
    from audits._groups import _spread

    return _spread(boot["tpr"])[0]


def _fpr(boot: dict[str, np.ndarray]) -> np.ndarray:
    from audits._groups import _spread

    return _spread(boot["fpr"])[0]


GAPS = {
    "demographic_parity_difference": ("demographic_parity_difference", _dp),
    "equalized_odds_difference": ("equalized_odds_difference", _eo),
    "true_positive_rate_difference": ("true_positive_rate_difference", _tpr),
    "false_positive_rate_difference": ("false_positive_rate_difference", _fpr),
}
# the gap each constraint equalises (TNR = 1 - FPR and FNR = 1 - TPR have the same differences)
CONSTRAINT_GAP = {
    "demographic_parity": "demographic_parity_difference",
    "selection_rate_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "true_positive_rate_difference",
    "false_negative_rate_parity": "true_positive_rate_difference",
    "false_positive_rate_parity": "false_positive_rate_difference",
    "true_negative_rate_parity": "false_positive_rate_difference",
}


# -- the saved post-processor -----------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdRule:
    """fairlearn's ThresholdOperation: `score > threshold` or `score < threshold` (threshold may be +-inf)."""

    operator: Literal[">", "<"]
    threshold: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return scores > self.threshold if self.operator == ">" else scores < self.threshold

    def to_json(self) -> dict[str, Any]:
        t = self.threshold
        return {"operator": self.operator, "threshold": t if np.isfinite(t) else ("inf" if t > 0 else "-inf")}


@dataclass(frozen=True)
class GroupRule:
    """One group's randomized threshold rule: P(positive) = p0 * op0(s) + p1 * op1(s), then with
    probability p_ignore replaced by prediction_constant (equalized odds only)."""

    group: str
    p0: float
    operation0: ThresholdRule
    p1: float
    operation1: ThresholdRule
    p_ignore: float | None = None
    prediction_constant: float | None = None

    def positive_probability(self, scores: np.ndarray) -> np.ndarray:
        """The same arithmetic, in the same order, as fairlearn's InterpolatedThresholder._pmf_predict."""
        p = self.p0 * self.operation0(scores) + self.p1 * self.operation1(scores)
        if self.p_ignore is not None:
            p = self.p_ignore * self.prediction_constant + (1 - self.p_ignore) * p
        return p

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "p0": self.p0,
            "operation0": self.operation0.to_json(),
            "p1": self.p1,
            "operation1": self.operation1.to_json(),
        }
        if self.p_ignore is not None:
            out["p_ignore"] = self.p_ignore
            out["prediction_constant"] = self.prediction_constant
        return out


@dataclass(frozen=True)
class FitSplit:
    """The records the post-processor was fitted on: a seeded split of `data`, stratified by
    group and label. `lines` are their 1-based source lines (no content)."""

    data: str
    data_sha256: str | None
    fit_fraction: float
    seed: int
    lines: tuple[int, ...] = field(repr=False)
    records_sha256: str
    eval_records: int

    @property
    def records(self) -> int:
        return len(self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "split": "fit",
            "data": self.data,
            "data_sha256": self.data_sha256,
            "fit_fraction": self.fit_fraction,
            "seed": self.seed,
            "records": self.records,
            "eval_records": self.eval_records,
            "records_sha256": self.records_sha256,
            "lines": list(self.lines),
        }

    def summary(self) -> dict[str, Any]:
        """What a finding's evidence says about the fit split (without the line list)."""
        return {k: v for k, v in self.to_json().items() if k != "lines"}


@dataclass(frozen=True)
class Mitigation:
    """A fitted ThresholdOptimizer, as data. `predict` applies it."""

    model_hash: str
    classes: tuple[str, ...]
    positive_class: str
    constraint: str
    objective: str
    grid_size: int
    sensitive: tuple[str, ...]
    groups: tuple[GroupRule, ...]
    fit: FitSplit
    seed: int
    fairlearn_version: str
    model: str = ""
    method: str = METHOD
    schema_version: int = MITIGATION_SCHEMA

    @property
    def feature(self) -> str:
        from audits._groups import _SEP

        return _SEP.join(self.sensitive)

    def positive_probability(
        self, scores: np.ndarray, keys: np.ndarray, *, source: str = "<data>", lines: Any = None
    ) -> np.ndarray:
        """P(predict positive) per record from its positive-class score and group key; a group the
        post-processor was not fitted on is an InputError naming the record."""
        scores = np.asarray(scores, dtype=float)
        keys = np.asarray(keys)
        known = {g.group for g in self.groups}
        unknown = ~np.isin(keys, list(known))
        if unknown.any():
            where = int(np.flatnonzero(unknown)[0])
            raise InputError(
                f"group {keys[where]!r} was not in the mitigation's fit data (groups: {sorted(known)})",
                path=source,
                line=None if lines is None else int(np.asarray(lines)[where]),
                field=self.feature,
                hint="refit with `guard audit mitigate` on data holding every group, or pass --no-mitigation",
            )
        out = 0.0 * scores
        for rule in self.groups:
            mask = keys == rule.group
            out[mask] = rule.positive_probability(scores)[mask]
        return out

    def predict(
        self, scores: np.ndarray, keys: np.ndarray, *, random_state: int | None = None, **where: Any
    ) -> np.ndarray:
        """0/1 predictions (1: the positive class), randomized with `RandomState(random_state)`
        (default: the saved seed) as fairlearn's `ThresholdOptimizer.predict` draws them."""
        p = self.positive_probability(scores, keys, **where)
        rs = np.random.RandomState(self.seed if random_state is None else random_state)
        return (p >= rs.rand(len(p))) * 1

    def check_model(self, model_hash: str, *, path: str | Path) -> None:
        if model_hash != self.model_hash:
            raise AuditError(
                f"{path}: refused: the mitigation was fitted for another model (model hash {self.model_hash[:12]}, "
                f"this model {model_hash[:12]}); refit it with `guard audit mitigate` or pass --no-mitigation"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "method": self.method,
            "model": self.model,
            "model_hash": self.model_hash,
            "classes": list(self.classes),
            "positive_class": self.positive_class,
            "constraint": self.constraint,
            "objective": self.objective,
            "grid_size": self.grid_size,
            "sensitive": list(self.sensitive),
            "seed": self.seed,
            "fairlearn_version": self.fairlearn_version,
            "fit": self.fit.to_json(),
            "groups": [g.to_json() for g in self.groups],
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_json(), indent=1, sort_keys=True, allow_nan=False) + "\n")
        return path

    @classmethod
    def from_json(cls, data: Any, *, source: str = "<mitigation>") -> Mitigation:
        return _Reader(source).mitigation(data)


class _Reader:
    """Validates a mitigation file field by field; any damage is an InputError naming the file and field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field_name: str, message: str) -> InputError:
        return InputError(
            message,
            path=self.source,
            field=field_name,
            hint="refit it with `guard audit mitigate` (or --no-mitigation)",
        )

    def get(self, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
        name = f"{where}{key}"
        if key not in data:
            raise self.fail(name, "missing")
        value = data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(name, f"expected {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(name, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def number(self, data: Mapping[str, Any], key: str, where: str, lo: float = 0.0, hi: float = 1.0) -> float:
        value = float(self.get(data, key, (int, float), where))
        if not (lo <= value <= hi):
            raise self.fail(f"{where}{key}", f"{value} is outside [{lo}, {hi}]")
        return value

    def rule(self, data: Any, where: str) -> ThresholdRule:
        if not isinstance(data, Mapping):
            raise self.fail(where.rstrip("."), "expected an object")
        op = self.get(data, "operator", str, where)
        if op not in (">", "<"):
            raise self.fail(f"{where}operator", f"{op!r} is not '>' or '<'")
        raw = self.get(data, "threshold", (int, float, str), where)
        if isinstance(raw, str):
            if raw not in ("inf", "-inf"):
                raise self.fail(f"{where}threshold", f"{raw!r} is not a number, 'inf' or '-inf'")
            t = float(raw)
        else:
            t = float(raw)
            if not np.isfinite(t):
                raise self.fail(f"{where}threshold", "not a finite number")
        return ThresholdRule(operator=op, threshold=t)

    def group(self, data: Any, index: int) -> GroupRule:
        where = f"groups[{index}]."
        if not isinstance(data, Mapping):
            raise self.fail(where.rstrip("."), "expected an object")
        p0 = self.number(data, "p0", where)
        p1 = self.number(data, "p1", where)
        if abs(p0 + p1 - 1.0) > 1e-9:
            raise self.fail(f"{where}p1", f"p0 + p1 = {p0 + p1}, not 1")
        p_ignore = constant = None
        if "p_ignore" in data or "prediction_constant" in data:
            p_ignore = self.number(data, "p_ignore", where)
            constant = self.number(data, "prediction_constant", where)
        return GroupRule(
            group=self.get(data, "group", str, where),
            p0=p0,
            operation0=self.rule(self.get(data, "operation0", dict, where), f"{where}operation0."),
            p1=p1,
            operation1=self.rule(self.get(data, "operation1", dict, where), f"{where}operation1."),
            p_ignore=p_ignore,
            prediction_constant=constant,
        )

    def fit(self, data: Any) -> FitSplit:
        where = "fit."
        lines = self.get(data, "lines", list, where)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in lines):
            raise self.fail("fit.lines", "expected a list of line numbers")
        recorded = self.get(data, "records_sha256", str, where)
        if _lines_sha256(lines) != recorded:
            raise self.fail("fit.lines", "the fit records do not match their recorded sha256 (edited or torn file)")
        sha = data.get("data_sha256")
        if sha is not None and not isinstance(sha, str):
            raise self.fail("fit.data_sha256", "expected a string or null")
        return FitSplit(
            data=self.get(data, "data", str, where),
            data_sha256=sha,
            fit_fraction=self.number(data, "fit_fraction", where),
            seed=int(self.get(data, "seed", int, where)),
            lines=tuple(lines),
            records_sha256=recorded,
            eval_records=int(self.get(data, "eval_records", int, where)),
        )

    def mitigation(self, data: Any) -> Mitigation:
        if not isinstance(data, Mapping):
            raise self.fail("schema_version", "not a guard mitigation file (expected a JSON object)")
        version = data.get("schema_version")
        if version != MITIGATION_SCHEMA:
            raise self.fail("schema_version", f"expected {MITIGATION_SCHEMA}, got {version!r}")
        method = self.get(data, "method", str)
        if method != METHOD:
            raise self.fail("method", f"expected {METHOD!r}, got {method!r}")
        classes = self.get(data, "classes", list)
        if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise self.fail("classes", "expected two or more class names")
        positive = self.get(data, "positive_class", str)
        if positive not in classes:
            raise self.fail("positive_class", f"{positive!r} is not one of the classes {classes}")
        constraint = self.get(data, "constraint", str)
        if constraint not in CONSTRAINTS:
            raise self.fail("constraint", f"{constraint!r} is not one of {sorted(CONSTRAINTS)}")
        objective = self.get(data, "objective", str)
        if objective not in OBJECTIVES:
            raise self.fail("objective", f"{objective!r} is not one of {sorted(OBJECTIVES)}")
        sensitive = self.get(data, "sensitive", list)
        if not sensitive or not all(isinstance(s, str) for s in sensitive):
            raise self.fail("sensitive", "expected one or more column names")
        raw_groups = self.get(data, "groups", list)
        groups = tuple(self.group(g, i) for i, g in enumerate(raw_groups))
        if len(groups) < 2:
            raise self.fail("groups", f"expected two or more groups, got {len(groups)}")
        if len({g.group for g in groups}) != len(groups):
            raise self.fail("groups", "a group appears twice")
        return Mitigation(
            model_hash=self.get(data, "model_hash", str),
            classes=tuple(classes),
            positive_class=positive,
            constraint=constraint,
            objective=objective,
            grid_size=int(self.get(data, "grid_size", int)),
            sensitive=tuple(sensitive),
            groups=groups,
            fit=self.fit(self.get(data, "fit", dict)),
            seed=int(self.get(data, "seed", int)),
            fairlearn_version=self.get(data, "fairlearn_version", str),
            model=str(data.get("model", "")),
        )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _lines_sha256(lines: Sequence[int]) -> str:
    return hashlib.sha256(",".join(str(int(x)) for x in lines).encode("ascii")).hexdigest()


def read_mitigation(path: str | Path) -> Mitigation:
    """Read and validate a mitigation file (InputError naming the file and the field on any damage)."""
    return Mitigation.from_json(read_json(path, what="mitigation file"), source=str(path))


# -- where it lives and which model it belongs to -------------------------------------------------------


def mitigation_path(model: str | Path) -> Path:
    """`MODEL.mitigation.json` beside a model file; `FOLDER/mitigation.json` in a model folder or run directory."""
    model = Path(model)
    return model / MITIGATION_FILE if model.is_dir() else model.with_name(model.name + MITIGATION_SUFFIX)


def model_hash(model: str | Path) -> str:
    """What a mitigation is tied to: a model file's sha256; a run directory's content hash
    (config, ledger, final model); another folder's files (name and sha256, the mitigation file left out)."""
    model = Path(model)
    if not model.is_dir():
        return file_sha256(model)
    if (model / "config.json").is_file() and (model / "model").is_dir():
        from audits._run import run_content_hash

        return run_content_hash(model)
    parts = {
        p.relative_to(model).as_posix(): file_sha256(p)
        for p in sorted(model.rglob("*"))
        if p.is_file() and p.relative_to(model).as_posix() != MITIGATION_FILE
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


# -- fitting --------------------------------------------------------------------------------------------


def _score_column() -> Any:
    """The audit model's positive-class score as a fitted scikit-learn estimator for fairlearn
    (prefit=True, predict_method="predict"): X is the (n, 1) score column and predict returns it.
    (Defined on first use: scikit-learn is imported only when fitting.)"""
    from sklearn.base import BaseEstimator

    class ScoreColumn(BaseEstimator):
        def fit(self, x: Any, y: Any = None) -> Any:  # never called: prefit=True
            self.fitted_ = True
            return self

        def predict(self, x: Any) -> np.ndarray:
            return np.asarray(x, dtype=float)[:, 0]

        def __sklearn_is_fitted__(self) -> bool:
            return True

    return ScoreColumn()


def split_fit_eval(keys: np.ndarray, y: np.ndarray, *, fit_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Record indices (sorted) of the fit and evaluation splits: within each (group, label) cell a
    seeded shuffle, `round(fit_fraction * n)` to fit, at least one (so that every group is fitted)
    and, when n >= 2, at least one to evaluate."""
    if not 0.0 < fit_fraction < 1.0:
        raise AuditError(f"fit_fraction must be between 0 and 1 (got {fit_fraction})")
    rng = np.random.default_rng([seed, 29])
    cells = np.char.add(np.char.add(np.asarray(keys, dtype=str), "\x00"), np.asarray(y).astype(str))
    fit: list[np.ndarray] = []
    for cell in np.unique(cells):
        idx = rng.permutation(np.flatnonzero(cells == cell))
        k = max(int(round(fit_fraction * len(idx))), 1)
        if len(idx) >= 2:
            k = min(k, len(idx) - 1)
        fit.append(idx[:k])
    fit_idx = np.sort(np.concatenate(fit)) if fit else np.zeros(0, dtype=int)
    eval_idx = np.setdiff1d(np.arange(len(keys)), fit_idx)
    return fit_idx, eval_idx


def fit_group_rules(
    scores: np.ndarray,
    y: np.ndarray,
    keys: np.ndarray,
    *,
    constraint: str = "demographic_parity",
    objective: str = "accuracy_score",
    grid_size: int = 1000,
) -> tuple[GroupRule, ...]:
    """Fit fairlearn's ThresholdOptimizer on positive-class `scores`, 0/1 labels `y` and group
    `keys`; its interpolation per group, as data."""
    from fairlearn.postprocessing import ThresholdOptimizer

    if constraint not in CONSTRAINTS:
        raise AuditError(f"unknown constraint {constraint!r}; one of {sorted(CONSTRAINTS)}")
    if objective not in OBJECTIVES:
        raise AuditError(f"unknown objective {objective!r}; one of {sorted(OBJECTIVES)}")
    if constraint == "equalized_odds" and objective not in EQUALIZED_ODDS_OBJECTIVES:
        raise AuditError(f"equalized_odds allows the objectives {list(EQUALIZED_ODDS_OBJECTIVES)} (got {objective!r})")
    optimizer = ThresholdOptimizer(
        estimator=_score_column(),
        constraints=constraint,
        objective=objective,
        grid_size=grid_size,
        prefit=True,
        predict_method="predict",
    )
    try:
        optimizer.fit(np.asarray(scores, dtype=float)[:, None], np.asarray(y, dtype=int), sensitive_features=keys)
    except ValueError as e:
        raise AuditError(
            f"fairlearn's ThresholdOptimizer cannot fit these records ({e})",
            hint="every group needs both labels among the fit records: merge rare groups, use fewer sensitive "
            "columns, or raise --fit-fraction",
        ) from e
    rules = []
    for group, b in optimizer.interpolated_thresholder_.interpolation_dict.items():
        rules.append(
            GroupRule(
                group=str(group),
                p0=float(b.p0),
                operation0=ThresholdRule(b.operation0.operator, float(b.operation0.threshold)),
                p1=float(b.p1),
                operation1=ThresholdRule(b.operation1.operator, float(b.operation1.threshold)),
                p_ignore=float(b.p_ignore) if "p_ignore" in b else None,
                prediction_constant=float(b.prediction_constant) if "p_ignore" in b else None,
            )
        )
    return tuple(rules)


def positive_index(classes: Sequence[str], positive_label: str | None) -> int:
    """The positive class: `positive_label`, or the second of two classes."""
    classes = [str(c) for c in classes]
    if positive_label is not None:
        if str(positive_label) not in classes:
            raise AuditError(f"positive label {positive_label!r} is not one of the model's classes {classes}")
        return classes.index(str(positive_label))
    if len(classes) != 2:
        raise AuditError(
            f"the model has {len(classes)} classes {classes}: name the positive class (--positive) to post-process "
            "it one-vs-rest"
        )
    return 1


@dataclass(frozen=True)
class MitigationResult:
    """What `fit_mitigation` made: the post-processor, where it was written, and the before/after
    findings on the evaluation split."""

    mitigation: Mitigation
    path: Path
    report: AuditReport


def fit_mitigation(
    model: str | Path,
    *,
    sensitive: Sequence[str],
    data: str | Path | None = None,
    label_field: str | None = None,
    text_field: str = "text",
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
    constraint: str = "demographic_parity",
    objective: str = "accuracy_score",
    grid_size: int = 1000,
    fit_fraction: float = 0.5,
    n_boot: int = 500,
    max_length: int | None = None,
    max_records: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
    out: str | Path | None = None,
) -> MitigationResult:
    """Fit a ThresholdOptimizer for `model` on a seeded `fit_fraction` of `data` (default: a run's
    holdout), write it (default: `mitigation_path(model)`) and evaluate it on the other records."""
    from audits._groups import _sha256, check_group_audit, group_keys
    from audits._models import audit_subject, load_scored, torch_threads

    started = time.perf_counter()
    check_group_audit(sensitive, n_boot)
    if grid_size < 2:
        raise AuditError(f"grid_size must be at least 2 (got {grid_size})")
    if not 0.0 < fit_fraction < 1.0:
        raise AuditError(f"fit_fraction must be between 0 and 1 (got {fit_fraction})")
    with torch_threads(threads):
        loaded, records, proba = load_scored(
            model,
            data=data,
            sensitive=sensitive,
            label_field=label_field,
            text_field=text_field,
            features=features,
            max_length=max_length,
            max_records=max_records,
            seed=seed,
            trust_model=trust_model,
        )
    pos = positive_index(loaded.classes, positive_label)
    keys = group_keys(records.sensitive, list(sensitive))
    y = (records.y == pos).astype(int)
    fit_idx, eval_idx = split_fit_eval(keys, y, fit_fraction=fit_fraction, seed=seed)
    if len(eval_idx) == 0 or len(fit_idx) == 0:
        raise AuditError(f"{records.source}: {len(records)} record(s) are too few to split into fit and evaluation")
    rules = fit_group_rules(
        proba[fit_idx, pos], y[fit_idx], keys[fit_idx], constraint=constraint, objective=objective, grid_size=grid_size
    )
    fit_lines = tuple(int(x) for x in records.lines[fit_idx])
    data_sha = _sha256(records.source)
    mitigation = Mitigation(
        model_hash=model_hash(model),
        model=Path(model).name,
        classes=tuple(loaded.classes),
        positive_class=loaded.classes[pos],
        constraint=constraint,
        objective=objective,
        grid_size=grid_size,
        sensitive=tuple(sensitive),
        groups=rules,
        fit=FitSplit(
            data=records.source,
            data_sha256=data_sha,
            fit_fraction=fit_fraction,
            seed=seed,
            lines=fit_lines,
            records_sha256=_lines_sha256(fit_lines),
            eval_records=len(eval_idx),
        ),
        seed=seed,
        fairlearn_version=package_versions("fairlearn")["fairlearn"],
    )
    path = mitigation.write(out if out is not None else mitigation_path(model))
    findings, plots = mitigation_findings(
        mitigation,
        y_true=records.y,
        proba=proba,
        classes=loaded.classes,
        sensitive=records.sensitive,
        lines=records.lines,
        source=records.source,
        data_sha256=data_sha,
        n_boot=n_boot,
        seed=seed,
        file=path,
    )
    subject = audit_subject(
        loaded,
        records,
        sensitive,
        positive_label=loaded.classes[pos],
        data_sha256=data_sha,
        mitigation=_subject(mitigation, path),
    )
    report = finished_report(
        "fairness", subject=subject, findings=findings, plots=plots, skipped={}, seed=seed, started=started
    )
    return MitigationResult(mitigation=mitigation, path=path, report=report)


def _subject(mitigation: Mitigation, path: Path) -> dict[str, Any]:
    return {
        "file": str(path),
        "sha256": file_sha256(path),
        "constraint": mitigation.constraint,
        "objective": mitigation.objective,
        "sensitive": list(mitigation.sensitive),
        "positive_class": mitigation.positive_class,
        "fit": mitigation.fit.summary(),
    }


# -- evaluating: the gap before and after --------------------------------------------------------------


def evaluation_mask(mitigation: Mitigation, *, lines: np.ndarray, data_sha256: str | None) -> tuple[np.ndarray, str]:
    """Which audited records to evaluate on, and in words: all but the fit records when the audit
    reads the file the post-processor was fitted on; every record otherwise."""
    lines = np.asarray(lines)
    if data_sha256 is not None and data_sha256 == mitigation.fit.data_sha256:
        mask = ~np.isin(lines, np.asarray(mitigation.fit.lines, dtype=int))
        return mask, "held-out split: the audited records not used to fit the post-processor"
    return np.ones(len(lines), dtype=bool), "all audited records (another data file than the post-processor's fit data)"


def gap_changes(
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    keys: np.ndarray,
    *,
    score: np.ndarray | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each gap (GAPS) and accuracy before and after, fairlearn's values with stratified bootstrap
    intervals (audits.fairness._bootstrap, the same draws for before and after, so the change has a
    paired interval). `y`, `before`, `after`: 0/1 per record; `keys`: group per record."""
    import fairlearn.metrics as flm

    from audits._groups import _bootstrap

    y = np.asarray(y).astype(bool)
    before = np.asarray(before).astype(bool)
    after = np.asarray(after).astype(bool)
    keys = np.asarray(keys)
    score = np.zeros(len(y)) if score is None else np.asarray(score, dtype=float)
    groups = sorted(set(keys.tolist()))
    sizes = np.array([int((keys == g).sum()) for g in groups], dtype=float)
    boots = {
        stage: _bootstrap(keys, groups, y, pred, score, pred == y, n_boot=n_boot, rng=np.random.default_rng([seed, 31]))
        for stage, pred in (("before", before), ("after", after))
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (fn_name, replicate) in GAPS.items():
        fn = getattr(flm, fn_name)
        values = {
            stage: float(fn(y.astype(int), pred.astype(int), sensitive_features=keys))
            for stage, pred in (("before", before), ("after", after))
        }
        reps = {stage: replicate(boots[stage]) for stage in boots}
        out[name] = _changed(values, reps)
    acc = {"before": float((before == y).mean()), "after": float((after == y).mean())}
    acc_reps = {stage: boots[stage]["accuracy"] @ sizes / sizes.sum() for stage in boots}
    out["accuracy"] = _changed(acc, acc_reps)
    sel = {
        stage: [float(pred[keys == g].mean()) for g in groups] for stage, pred in (("before", before), ("after", after))
    }
    out["_groups"] = {"groups": groups, "n": [int(s) for s in sizes], "selection_rate": sel}
    return out


def _changed(values: dict[str, float], reps: dict[str, np.ndarray]) -> dict[str, Any]:
    from audits._groups import _interval

    diff = reps["after"] - reps["before"]
    finite = diff[np.isfinite(diff)]
    return {
        "before": values["before"],
        "after": values["after"],
        "change": values["after"] - values["before"],
        "ci95_before": list(_interval(reps["before"])),
        "ci95_after": list(_interval(reps["after"])),
        "ci95_change": list(_interval(diff)),
        # share of paired replicates where the change is >= 0 (a one-sided bootstrap p-value for "it went down")
        "p_not_lower": float((finite >= 0).mean()) if len(finite) else None,
    }


def mitigation_findings(
    mitigation: Mitigation,
    *,
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    sensitive: Any,
    lines: np.ndarray,
    source: str,
    data_sha256: str | None,
    n_boot: int = 500,
    seed: int = 0,
    file: str | Path = "<mitigation>",
) -> tuple[list[AuditFinding], dict[str, Any]]:
    """Findings (check "mitigation") for the raw model's predictions and the post-processed ones on
    the audited records the post-processor was not fitted on: every GAPS gap and accuracy, each as
    `<metric>_before`, `<metric>_after` and `<metric>_change` (accuracy: `accuracy_cost` = before -
    after), with 95% bootstrap intervals."""
    from audits._groups import group_keys

    classes = [str(c) for c in classes]
    if list(mitigation.classes) != classes:
        raise AuditError(f"{file}: the mitigation's classes {list(mitigation.classes)} are not the model's {classes}")
    missing = [c for c in mitigation.sensitive if c not in sensitive.columns]
    if missing:
        raise AuditError(
            f"{file}: the mitigation was fitted on the sensitive feature(s) {list(mitigation.sensitive)}; "
            f"audit with --sensitive {' --sensitive '.join(missing)} as well, or pass --no-mitigation"
        )
    pos = classes.index(mitigation.positive_class)
    mask, evaluated_on = evaluation_mask(mitigation, lines=lines, data_sha256=data_sha256)
    if not mask.any():
        raise AuditError(
            f"{file}: every audited record was used to fit the post-processor; audit on other records "
            "or pass --no-mitigation"
        )
    idx = np.flatnonzero(mask)
    proba = np.asarray(proba, dtype=float)[idx]
    keys = group_keys(sensitive.iloc[idx].reset_index(drop=True), list(mitigation.sensitive))
    y = np.asarray(y_true)[idx] == pos
    score = proba[:, pos]
    before = proba.argmax(1) == pos
    after = mitigation.predict(score, keys, source=source, lines=np.asarray(lines)[idx]).astype(bool)
    changes = gap_changes(y, before, after, keys, score=score, n_boot=n_boot, seed=seed)
    fname = mitigation.feature
    target = CONSTRAINT_GAP[mitigation.constraint]
    common = {
        "feature": fname,
        "constraint": mitigation.constraint,
        "objective": mitigation.objective,
        "positive_class": mitigation.positive_class,
        "mitigation_file": str(file),
        "fit_split": mitigation.fit.summary(),
        "evaluated_on": evaluated_on,
        "n": int(len(idx)),
        "n_boot": n_boot,
        "random_state": mitigation.seed,
    }
    findings: list[AuditFinding] = []
    for metric, c in changes.items():
        if metric.startswith("_"):
            continue
        is_acc = metric == "accuracy"
        rows = (
            (f"{metric}_before", c["before"], c["ci95_before"], {}),
            (f"{metric}_after", c["after"], c["ci95_after"], {}),
            (
                "accuracy_cost" if is_acc else f"{metric}_change",
                -c["change"] if is_acc else c["change"],
                [-c["ci95_change"][1], -c["ci95_change"][0]] if is_acc else c["ci95_change"],
                {"paired": True, "p_not_lower": None if is_acc else c["p_not_lower"]},
            ),
        )
        for name, value, ci, extra in rows:
            findings.append(
                AuditFinding(
                    audit="fairness",
                    check=CHECK,
                    metric=name,
                    value=value,
                    group=fname,
                    evidence={**common, "ci95": list(ci), "constraint_gap": metric == target, **extra},
                )
            )
    g = changes["_groups"]
    plots = {
        "mitigation": {
            fname: {
                "constraint": mitigation.constraint,
                "groups": g["groups"],
                "n": g["n"],
                "selection_rate_before": g["selection_rate"]["before"],
                "selection_rate_after": g["selection_rate"]["after"],
                "gaps": {k: v for k, v in changes.items() if not k.startswith("_")},
            }
        }
    }
    return findings, plots


def audit_mitigation(
    model: str | Path,
    enabled: bool,
    *,
    file: str | Path | None = None,
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    sensitive: Any,
    lines: np.ndarray,
    source: str,
    data_sha256: str | None,
    n_boot: int,
    seed: int,
) -> tuple[list[AuditFinding], dict[str, Any], dict[str, Any] | None, str | None]:
    """The fairness audit's use of a mitigation file: `file`, or else the one beside `model` when
    there is one; none when not `enabled`. (findings, plots, subject entry, reason skipped)."""
    if not enabled:
        return [], {}, None, "turned off (--no-mitigation)"
    path = mitigation_path(model) if file is None else Path(file)
    if not path.is_file():
        if file is None:  # no post-processor: nothing was skipped, the model is audited as it is
            return [], {}, None, None
        raise InputError("mitigation file not found", path=str(path))
    m = read_mitigation(path)
    m.check_model(model_hash(model), path=path)
    findings, plots = mitigation_findings(
        m,
        y_true=y_true,
        proba=proba,
        classes=classes,
        sensitive=sensitive,
        lines=lines,
        source=source,
        data_sha256=data_sha256,
        n_boot=n_boot,
        seed=seed,
        file=path,
    )
    return findings, plots, _subject(m, path), None


__all__ = [
    "CONSTRAINTS",
    "CONSTRAINT_GAP",
    "GAPS",
    "MITIGATION_SCHEMA",
    "OBJECTIVES",
    "FitSplit",
    "GroupRule",
    "Mitigation",
    "MitigationResult",
    "ThresholdRule",
    "audit_mitigation",
    "fit_group_rules",
    "fit_mitigation",
    "gap_changes",
    "mitigation_findings",
    "mitigation_path",
    "model_hash",
    "read_mitigation",
    "split_fit_eval",
]
