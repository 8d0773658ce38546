"""What an audit looks at: a trained model, its training records (members),
held-out records of the same distribution (non-members), its canaries and its
privacy claim. Built from a `guard federate` run directory, or from a local
model folder and two data files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audits.findings import AuditError
from guard.core.errors import GuardError, InputError
from guard.core.files import file_sha256


@dataclass(frozen=True)
class Target:
    bundle: Any  # federated.models.ModelBundle
    members: tuple[Any, ...]  # federated.data.Example, canaries excluded
    non_members: tuple[Any, ...]
    canaries: tuple[Any, ...] = ()  # federated.data.Canary (inserted and reference)
    canary_labels: dict[str, int | None] = field(default_factory=dict)  # canary id -> trained label
    canary_template: str = ""
    canary_digits: int = 0
    config: Any = None  # FederateConfig when the model comes from a run directory
    ledger: Any = None  # PrivacyLedger
    subject: dict[str, Any] = field(default_factory=dict)
    person_field: str | None = None  # the run's [data] person_field: examples carry `person`

    @property
    def dp_unit(self) -> str:
        """What the run's DP guarantee protects: "record" or the person field (the ledger's
        word when it records one, else the run config's `[dp] unit`)."""
        clients = getattr(self.ledger, "clients", ()) or ()
        units = {str(getattr(c, "unit", "record")) for c in clients}
        if len(units) == 1:
            return units.pop()
        dp = getattr(self.config, "dp", None)
        return str(getattr(dp, "unit", "record")) if dp is not None else "record"

    @property
    def task(self) -> str:
        return str(getattr(self.bundle.task, "value", self.bundle.task))


def load_run_target(run_dir: str | Path, *, silo: Any = None) -> Target:
    """The final model of a finished `guard federate` run, with the exact split it trained on.

    A silo run's data and canaries stay on its nodes: audit it on a node, with that node's
    `silo` (a federated.silo.SiloNode: its data file, client id and state directory) and a
    copy of the server's run directory (which holds no data). A missing or damaged run file
    is a RunError naming it (exit 30)."""
    from audits._run import (
        load_run_model,
        open_run,
        run_canaries,
        run_config,
        run_content_hash,
        run_ledger,
        run_state,
    )
    from federated.data import CANARY_TEMPLATE, load_federated_dataset

    run = open_run(run_dir)
    config = run_config(run)
    state = run_state(run)
    if not run.model_dir.is_dir():
        raise AuditError(f"{run.path}: no final model (model/ is missing); finish the run with --resume first")
    canaries = run_canaries(run)
    ledger = run_ledger(run)
    silo_run = config.silos.enabled
    if silo is not None and not silo_run:
        raise AuditError(f"{run.path}: not a silo run; --silo-data, --silo-state and --client-id are for silo runs")
    try:
        if silo_run:
            canaries, dataset = _silo_data(run.path, config, silo)
        else:
            dataset = load_federated_dataset(config.data, seed=config.train.seed, canaries=canaries)
    except (InputError, AuditError):
        raise  # the corpus: a user file, located by its reader
    except GuardError as e:
        raise AuditError(f"{run.path}: cannot load the run's data: {e}") from e
    corpus = Path(silo.data_path) if silo_run else Path(config.data.path)
    bundle = load_run_model(run)
    members = tuple(e for c in dataset.clients for e in c.train if e.canary_id is None)
    non_members = tuple(e for c in dataset.clients for e in c.holdout)
    labels = {e.canary_id: e.label for c in dataset.clients for e in c.train if e.canary_id is not None}
    canary_labels = {c.canary_id: labels.get(c.canary_id) for c in canaries}
    if config.data.task.value == "classification" and canaries:
        # reference canaries were never trained: score them with a fixed class
        canary_labels = {k: (0 if v is None else v) for k, v in canary_labels.items()}
    subject = {
        "kind": "run",
        "run_dir": str(run.path),
        "model": bundle.name,
        "task": config.data.task.value,
        "config_hash": config.config_hash(),
        "run_hash": run_content_hash(run.path),
        "rounds_done": state.last_round,
        "finished": state.finished,
        "corpus": corpus.name,
        "corpus_sha256": file_sha256(corpus) if corpus.is_file() else None,
        "members": len(members),
        "non_members": len(non_members),
        "canaries": len(canaries),
    }
    if getattr(config.data, "person_field", None):  # counts only: a person id is never written
        subject["member_persons"] = len({e.person for e in members})
        subject["non_member_persons"] = len({e.person for e in non_members})
    return Target(
        bundle=bundle,
        members=members,
        non_members=non_members,
        canaries=tuple(canaries),
        canary_labels=canary_labels,
        canary_template=CANARY_TEMPLATE,
        canary_digits=config.canaries.digits,
        config=config,
        ledger=ledger,
        subject=subject,
        person_field=getattr(config.data, "person_field", None),
    )


def _silo_data(run_path: Path, config: Any, silo: Any) -> tuple[list[Any], Any]:
    """A silo node's canaries (from its state directory) and its data, as it trained on them."""
    from federated.data import canaries_from_json
    from federated.silo import CANARIES_FILE, load_silo

    if silo is None:
        raise AuditError(
            f"{run_path}: a silo run's data and canaries stay on its nodes; run this audit on a node with a copy "
            "of this run directory: --silo-data FILE --silo-state DIR --client-id ID"
        )
    state = Path(silo.state_dir) / f"run-{config.config_hash()[:16]}"
    secrets = state / CANARIES_FILE
    if not secrets.is_file():
        raise AuditError(
            f"{state}: this node has no state for this run (no {CANARIES_FILE})",
            hint="give the --silo-state the node trained with, and the same --client-id",
        )
    try:
        canaries = canaries_from_json(json.loads(secrets.read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:
        raise AuditError(f"{secrets}: this node's canaries file is damaged ({type(e).__name__})") from e
    return canaries, load_silo(config, silo)


def _read_examples(
    path: Path,
    *,
    text_field: str,
    label_field: str | None,
    labels: Sequence[str] | None,
    person_field: str | None = None,
) -> tuple[Any, ...]:
    from federated.data import Example
    from guard.core.io import CorpusReader
    from guard.core.types import RecordError

    index = {name: i for i, name in enumerate(labels or [])}
    out = []
    for item in CorpusReader(path):
        if isinstance(item, RecordError):
            raise InputError(item.reason, path=str(path), line=item.line, field=item.field)
        text = item.data.get(text_field)
        if not isinstance(text, str):
            raise InputError("missing or non-string text field", path=str(path), line=item.line, field=text_field)
        label = None
        if label_field is not None:
            value = item.data.get(label_field)
            if value is None or str(value) not in index:
                raise InputError(
                    f"label is not one of the model's classes {sorted(index)}",
                    path=str(path),
                    line=item.line,
                    field=label_field,
                )
            label = index[str(value)]
        person = None
        if person_field is not None:
            value = item.data.get(person_field)
            if not isinstance(value, str) or not value.strip():  # the value itself never goes into an error
                raise InputError(
                    "the person field is missing, empty or not a string",
                    path=str(path),
                    line=item.line,
                    field=person_field,
                )
            person = value
        out.append(Example(text, label, item.line, person=person))
    if not out:
        raise InputError("no records", path=str(path))
    return tuple(out)


def load_model_target(
    model_dir: str | Path,
    *,
    train: str | Path,
    holdout: str | Path,
    task: str | None = None,
    text_field: str = "text",
    label_field: str | None = "label",
    person_field: str | None = None,
) -> Target:
    """A local model folder (saved by guard, or a Hugging Face checkpoint) and its data.

    For a Hugging Face checkpoint pass `task` ("causal_lm" or "classification");
    a classifier's class names come from its config's id2label. `person_field` names
    the field holding each record's person (every record needs one): the privacy
    audit then adds person-level membership inference.
    """
    from audits._models import load_guard_model_dir, load_hf_checkpoint
    from federated.models import META_FILE

    model_dir = Path(model_dir)
    if (model_dir / META_FILE).is_file():
        bundle = load_guard_model_dir(model_dir)
    elif (model_dir / "config.json").is_file():
        if task is None:
            raise AuditError(f"{model_dir}: a Hugging Face checkpoint needs --task causal_lm or classification")
        if task not in ("causal_lm", "classification"):
            raise AuditError(f"{model_dir}: cannot load the model: task {task!r} is not causal_lm or classification")
        bundle = load_hf_checkpoint(model_dir, task=task)
    else:
        raise AuditError(f"{model_dir} is neither a guard model folder ({META_FILE}) nor a Hugging Face checkpoint")
    is_cls = str(getattr(bundle.task, "value", bundle.task)) == "classification"
    if is_cls and not bundle.label_names:
        raise AuditError(f"{model_dir}: the classifier does not name its classes; cannot match data labels")
    lf = label_field if is_cls else None
    read = {"text_field": text_field, "label_field": lf, "labels": bundle.label_names, "person_field": person_field}
    members = _read_examples(Path(train), **read)
    non_members = _read_examples(Path(holdout), **read)
    bundle.model.eval()
    subject = {
        "kind": "model",
        "model_dir": str(model_dir),
        "model": bundle.name,
        "task": str(getattr(bundle.task, "value", bundle.task)),
        "train": Path(train).name,
        "train_sha256": file_sha256(Path(train)),
        "holdout": Path(holdout).name,
        "holdout_sha256": file_sha256(Path(holdout)),
        "members": len(members),
        "non_members": len(non_members),
        "canaries": 0,
    }
    if person_field is not None:  # counts only: a person id is never written
        subject["member_persons"] = len({e.person for e in members})
        subject["non_member_persons"] = len({e.person for e in non_members})
    return Target(bundle=bundle, members=members, non_members=non_members, subject=subject, person_field=person_field)


def with_model(target: Target, bundle: Any) -> Target:
    return replace(target, bundle=bundle)


__all__ = ["Target", "load_model_target", "load_run_target", "with_model"]
