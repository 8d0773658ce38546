"""`guard audit fairness` and `guard audit explain`: thin commands over audits.fairness and audits.explain."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from guard.cli.audit import print_findings


def fairness(
    model: Path = typer.Argument(
        ..., help="Run directory, guard model, HF checkpoint, .skops or tabular .safetensors."
    ),
    sensitive: list[str] = typer.Option(..., "--sensitive", "-s", help="Sensitive feature field (repeatable)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data file (default: the run's holdout)."),
    label_field: Optional[str] = typer.Option(None, "--label-field", help="Label field (default: the run's)."),
    text_field: str = typer.Option("text", "--text-field", help="Text field of a text data file."),
    feature: list[str] = typer.Option([], "--feature", help="Feature column of a tabular model (repeatable)."),
    positive: Optional[str] = typer.Option(
        None, "--positive", help="Positive class (default: every class, one-vs-rest)."
    ),
    intersections: bool = typer.Option(True, "--intersections/--no-intersections", help="Audit feature intersections."),
    min_group_size: int = typer.Option(30, "--min-group-size", help="Warn below this many records per group."),
    n_boot: int = typer.Option(500, "--n-boot", help="Bootstrap replicates for the intervals."),
    max_difference: Optional[float] = typer.Option(None, "--max-difference", help="Fail DP/EO differences above this."),
    counterfactual: bool = typer.Option(True, "--counterfactual/--no-counterfactual", help="Name/identity swap test."),
    max_records: Optional[int] = typer.Option(None, "--max-records", help="Audit a seeded sample of this size."),
    threads: Optional[int] = typer.Option(
        None, "--threads", help="Torch threads while auditing (default: torch's; 1 is fastest on a busy small machine)."
    ),
    seed: int = typer.Option(0, "--seed"),
    trust_model: bool = typer.Option(
        False,
        "--trust-model",
        help="Load a .skops model even if it holds types outside guard's allow-list (e.g. functions, which "
        "run code when the model predicts). Only for a file whose maker you trust; the findings record it.",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the findings JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Group fairness: per-group metrics (fairlearn), disparities with intervals and tests, counterfactual flips."""
    from audits.fairness import run_fairness_audit

    report = run_fairness_audit(
        model,
        sensitive=sensitive,
        data=data,
        label_field=label_field,
        text_field=text_field,
        features=feature or None,
        positive_label=positive,
        intersections=intersections,
        min_group_size=min_group_size,
        n_boot=n_boot,
        max_difference=max_difference,
        counterfactual=counterfactual,
        max_records=max_records,
        threads=threads,
        seed=seed,
        trust_model=trust_model,
    )
    if out is not None:
        report.write(out)
    print_findings(report, out, as_json=as_json)


def explain(
    model: Path = typer.Argument(
        ..., help="Run directory, guard model, HF checkpoint, .skops or tabular .safetensors."
    ),
    sensitive: list[str] = typer.Option([], "--sensitive", "-s", help="Compare attributions across this field."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data file (default: the run's holdout)."),
    label_field: Optional[str] = typer.Option(None, "--label-field", help="Label field (default: the run's)."),
    text_field: str = typer.Option("text", "--text-field", help="Text field of a text data file."),
    feature: list[str] = typer.Option([], "--feature", help="Feature column of a tabular model (repeatable)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Class whose gap is explained."),
    n_samples: int = typer.Option(100, "--samples", help="Records explained with IG (tabular: shap)."),
    n_shap: int = typer.Option(20, "--shap-samples", help="Texts also explained with shap for the cross-check."),
    n_steps: int = typer.Option(50, "--steps", help="Integrated-gradients steps."),
    top_k: int = typer.Option(10, "--top-k", help="Tokens or features listed per class and gap."),
    threads: Optional[int] = typer.Option(
        None, "--threads", help="Torch threads while auditing (default: torch's; 1 is fastest on a busy small machine)."
    ),
    seed: int = typer.Option(0, "--seed"),
    trust_model: bool = typer.Option(
        False,
        "--trust-model",
        help="Load a .skops model even if it holds types outside guard's allow-list (e.g. functions, which "
        "run code when the model predicts). Only for a file whose maker you trust; the findings record it.",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the findings JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Attributions: captum IG (completeness-checked) and shap, top tokens per class, tokens behind group gaps."""
    from audits.explain import run_explain_audit

    report = run_explain_audit(
        model,
        data=data,
        sensitive=sensitive,
        label_field=label_field,
        text_field=text_field,
        features=feature or None,
        positive_label=positive,
        n_samples=n_samples,
        n_shap=n_shap,
        n_steps=n_steps,
        top_k=top_k,
        threads=threads,
        seed=seed,
        trust_model=trust_model,
    )
    if out is not None:
        report.write(out)
    print_findings(report, out, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.command()(fairness)
    app.command()(explain)


__all__ = ["register"]
