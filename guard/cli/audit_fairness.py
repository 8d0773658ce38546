"""`guard audit fairness`, `guard audit mitigate` and `guard audit explain`: options in,
`guard.audit.fairness` / `audits.mitigation.fit_mitigation` / `guard.audit.explain` called,
findings printed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from guard.cli._common import (
    DataOpt,
    FeatureOpt,
    JsonOpt,
    LabelFieldOpt,
    ModelArg,
    OutFileOpt,
    SeedOpt,
    TextFieldOpt,
    ThreadsOpt,
    TrustModelOpt,
    console,
    print_findings,
)


def fairness(
    model: ModelArg,
    sensitive: Annotated[list[str], typer.Option("--sensitive", "-s", help="Sensitive feature field (repeatable).")],
    data: DataOpt = None,
    label_field: LabelFieldOpt = None,
    text_field: TextFieldOpt = "text",
    feature: FeatureOpt = [],  # noqa: B006
    positive: Annotated[
        Optional[str], typer.Option("--positive", help="Positive class (default: every class, one-vs-rest).")
    ] = None,
    intersections: Annotated[
        bool, typer.Option("--intersections/--no-intersections", help="Audit feature intersections.")
    ] = True,
    min_group_size: Annotated[
        int, typer.Option("--min-group-size", help="Warn below this many records per group.")
    ] = 30,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates for the intervals.")] = 500,
    max_difference: Annotated[
        Optional[float], typer.Option("--max-difference", help="Fail DP/EO differences above this.")
    ] = None,
    counterfactual: Annotated[
        bool, typer.Option("--counterfactual/--no-counterfactual", help="Name/identity swap test.")
    ] = True,
    max_records: Annotated[
        Optional[int], typer.Option("--max-records", help="Audit a seeded sample of this size.")
    ] = None,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
    trust_model: TrustModelOpt = False,
    mitigation: Annotated[
        bool,
        typer.Option(
            "--mitigation/--no-mitigation",
            help="Report gaps before/after the post-processor saved beside the model (guard audit mitigate).",
        ),
    ] = True,
    mitigation_file: Annotated[
        Optional[Path],
        typer.Option("--mitigation-file", help="Post-processor file (default: the one beside the model)."),
    ] = None,
    out: OutFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Group fairness: per-group metrics (fairlearn), disparities with intervals and tests, counterfactual flips,
    and gaps before/after a saved post-processor."""
    _audit("fairness", **locals())  # every option, under its name in guard.audit.fairness


class ConstraintChoice(StrEnum):
    """fairlearn ThresholdOptimizer constraints (audits.mitigation.CONSTRAINTS)."""

    demographic_parity = "demographic_parity"
    selection_rate_parity = "selection_rate_parity"
    equalized_odds = "equalized_odds"
    true_positive_rate_parity = "true_positive_rate_parity"
    false_positive_rate_parity = "false_positive_rate_parity"
    true_negative_rate_parity = "true_negative_rate_parity"
    false_negative_rate_parity = "false_negative_rate_parity"


class ObjectiveChoice(StrEnum):
    """fairlearn ThresholdOptimizer objectives (audits.mitigation.OBJECTIVES)."""

    accuracy_score = "accuracy_score"
    balanced_accuracy_score = "balanced_accuracy_score"
    selection_rate = "selection_rate"
    true_positive_rate = "true_positive_rate"
    true_negative_rate = "true_negative_rate"


def mitigate(
    model: ModelArg,
    sensitive: Annotated[list[str], typer.Option("--sensitive", "-s", help="Sensitive feature field (repeatable).")],
    data: DataOpt = None,
    label_field: LabelFieldOpt = None,
    text_field: TextFieldOpt = "text",
    feature: FeatureOpt = [],  # noqa: B006
    positive: Annotated[
        Optional[str], typer.Option("--positive", help="Positive class (default: the second of two classes).")
    ] = None,
    constraint: Annotated[
        ConstraintChoice, typer.Option("--constraint", help="Fairness constraint the thresholds satisfy.")
    ] = ConstraintChoice.demographic_parity,
    objective: Annotated[
        ObjectiveChoice, typer.Option("--objective", help="What the thresholds maximise under the constraint.")
    ] = ObjectiveChoice.accuracy_score,
    grid_size: Annotated[int, typer.Option("--grid-size", help="fairlearn's grid over the constraint metric.")] = 1000,
    fit_fraction: Annotated[
        float,
        typer.Option("--fit-fraction", help="Share of the records (per group and label) the thresholds are fit on."),
    ] = 0.5,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates for the intervals.")] = 500,
    max_records: Annotated[
        Optional[int], typer.Option("--max-records", help="Use a seeded sample of this size.")
    ] = None,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
    trust_model: TrustModelOpt = False,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Post-processor JSON (default: beside the model, where audits find it)."),
    ] = None,
    report: Annotated[
        Optional[Path], typer.Option("--report", "-r", help="Write the before/after findings JSON here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit fairlearn's ThresholdOptimizer on a split of the data, save it as JSON beside the model, and report
    each gap and the accuracy before and after on the other records."""
    from guard import audit

    result = audit.mitigate(
        model,
        sensitive=sensitive,
        data=data,
        label_field=label_field,
        text_field=text_field,
        features=feature or None,
        positive=positive,
        constraint=constraint.value,
        objective=objective.value,
        grid_size=grid_size,
        fit_fraction=fit_fraction,
        n_boot=n_boot,
        max_records=max_records,
        threads=threads,
        seed=seed,
        trust_model=trust_model,
        out=out,
    )
    if report is not None:
        result.report.write(report)
    print_findings(result.report, report, as_json=as_json)
    if not as_json:
        console.print(f"post-processor: {result.path}", highlight=False)


def explain(
    model: ModelArg,
    sensitive: Annotated[
        list[str], typer.Option("--sensitive", "-s", help="Compare attributions across this field.")
    ] = [],  # noqa: B006
    data: DataOpt = None,
    label_field: LabelFieldOpt = None,
    text_field: TextFieldOpt = "text",
    feature: FeatureOpt = [],  # noqa: B006
    positive: Annotated[Optional[str], typer.Option("--positive", help="Class whose gap is explained.")] = None,
    n_samples: Annotated[int, typer.Option("--samples", help="Records explained with IG (tabular: shap).")] = 100,
    n_shap: Annotated[
        int, typer.Option("--shap-samples", help="Texts also explained with shap for the cross-check.")
    ] = 20,
    n_steps: Annotated[int, typer.Option("--steps", help="Integrated-gradients steps.")] = 50,
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="Attribution methods, comma-separated: ig (text, required), shap (tabular, required), lime.",
        ),
    ] = "ig,shap,lime",
    n_lime: Annotated[
        Optional[int],
        typer.Option("--lime-samples", help="Examples also explained with LIME (default: --shap-samples, same ones)."),
    ] = None,
    lime_num_samples: Annotated[
        int, typer.Option("--lime-perturbations", help="Perturbed inputs LIME scores per example.")
    ] = 300,
    top_k: Annotated[int, typer.Option("--top-k", help="Tokens or features listed per class and gap.")] = 10,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
    trust_model: TrustModelOpt = False,
    out: OutFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attributions: captum IG (completeness-checked), shap and LIME with their rank agreement, top tokens per class,
    tokens behind group gaps."""
    _audit("explain", **locals())  # every option, under its name in guard.audit.explain


def _audit(name: str, *, model: Path, feature: list[str], out: Path | None, as_json: bool, **options: Any) -> None:
    """Run `guard.audit.<name>` with a command's options (an empty --feature list selects every
    feature) and print its findings."""
    from guard import audit

    report = getattr(audit, name)(model, features=feature or None, out=out, **options)
    print_findings(report, out, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.command()(fairness)
    app.command()(mitigate)
    app.command()(explain)


__all__ = ["register"]
