"""Run directories, scans and reports for the audit, report and gate tests, made in seconds.

`make_run` writes a `guard federate` run directory with guard's own writers
(`prepare_run`: config.json, clients.json, canaries.json, ledger.json; `save_model`;
`RunDir.write_ledger`/`write_state`) but skips the training: the final model is the
untrained one, and the ledger records one round of DP-SGD per client with the
planned noise, sample rate and steps, its epsilon from Opacus's RDP accountant.
Everything that reads a run (audits, report, gate) sees what a real run holds.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
KEY = "integrity-test-key-0123456789abcdef"


def invoke(*args: str, env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
    """`guard ARGS` through typer's CliRunner, with no GUARD_KEY unless `env` sets one; never a traceback."""
    from typer.testing import CliRunner

    from guard.cli import app

    result = CliRunner().invoke(app, list(args), env={"GUARD_KEY": None, **(env or {})})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_run(folder: Path, *, canaries: int = 2, noise: float = 1.0, seed: int = 0) -> Path:
    from federated.client import new_ledger_entry
    from federated.config import parse_config
    from federated.data import load_federated_dataset
    from federated.ledger import AccountingStep, PrivacyLedger
    from federated.models import build_model, save_model
    from federated.privacy import epsilon_of
    from federated.rundir import RunDir, RunState
    from federated.server import prepare_run

    config = parse_config(
        {
            "data": {
                "path": str(NOTES),
                "label_field": "label",
                "partition": "iid",
                "num_clients": 2,
                "holdout": 0.3,
                "max_length": 32,
                "max_records": 80,
            },
            "model": {"name": "tiny-classifier", "params": {"dim": 16, "layers": 1}},
            "train": {"rounds": 1, "batch_size": 16, "seed": seed},
            "dp": {"enabled": True, "noise_multiplier": noise, "target_epsilon": None, "accountant": "rdp"},
            "canaries": {"count": canaries, "references": 2 if canaries else 0, "digits": 5},
        },
        source="tests/audits/conftest.py",
    )
    run = RunDir(folder)
    prepare_run(config, run, resume=False)
    dataset = load_federated_dataset(config.data, seed=config.train.seed)
    bundle = build_model(config.model, task=config.data.task, num_labels=len(dataset.labels), seed=seed)
    save_model(bundle, run.model_dir, labels=list(dataset.labels))
    plan = json.loads(run.clients_file.read_text(encoding="utf-8"))["privacy_plan"]
    ledger = PrivacyLedger(dp_enabled=True)
    rows: list[dict] = []
    for client_id, p in sorted(plan.items()):
        entry = new_ledger_entry(config, client_id, int(p["records"]))
        step = AccountingStep(1, float(p["noise_multiplier"]), float(p["sample_rate"]), int(p["steps"]))
        epsilon = epsilon_of([(step.noise_multiplier, step.sample_rate, step.steps)], entry.delta, entry.accountant)
        ledger = ledger.with_client(entry.with_step(step, epsilon))
        rows.append({"round": 1, "phase": "train", "client": client_id, "epsilon": epsilon, "train_loss": 1.6})
    rows.append({"round": 1, "phase": "aggregate", "train": {"epsilon_max": ledger.max_epsilon}, "evaluate": {}})
    run.append_jsonl(run.metrics_file, rows)
    run.write_ledger(ledger)
    run.write_state(RunState(1, 1, config.config_hash(), finished=True))
    return folder


def write_scan(path: Path, *, raw: int = 400, surviving: int = 6) -> Path:
    """A residual-PII scan file as `guard demo` writes it (counts only)."""
    from guard.deid import ResidualPII

    residual = ResidualPII(records=50, raw_values=raw, surviving_values=surviving, by_entity={})
    path.write_text(json.dumps(residual.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def fairness_findings(run: Path, out: Path) -> Path:
    """A fairness audit of `run` (its holdout, by sex), written to `out`."""
    from audits import run_fairness_audit

    return run_fairness_audit(run, sensitive=["sex"], n_boot=20, counterfactual=False).write(out)


def make_report(
    run: Path,
    out: Path,
    *,
    audits: tuple[Path, ...] = (),
    scan: Path | None = None,
    key: bytes | None = None,
) -> Path:
    """report.json of `guard report` for `run`; returns its path."""
    from guard.release import write_report

    _, paths = write_report(run, out, audits=audits, scan_report=scan, key=key)
    return paths["report.json"]
