"""Silo runs ([silos]): each node reads only its own file, keeps its canaries and noise in
its own state directory, and the server checks every ledger entry a client reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from federated import client, wire
from federated.config import parse_config
from federated.entry_check import check_entry
from federated.ledger import AccountingStep, PrivacyLedger
from federated.privacy import epsilon_of
from federated.rundir import RunDir
from federated.server import _take_reply, prepare_run
from federated.silo import SiloNode, load_silo
from guard.core.errors import ExitCode, InputError, RunError

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
LABELS = ["billing", "cardiology", "neurology", "oncology", "orthopedics"]


def _silo_files(tmp_path: Path) -> dict[str, Path]:
    """Two silos, each with its own file in its own folder (split from the example notes by site)."""
    rows = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines()]
    out = {}
    for site in ("lakeside", "riverview"):
        folder = tmp_path / site
        folder.mkdir()
        path = folder / "notes.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["site"] == site), encoding="utf-8")
        out[site] = path
    return out


def _config(**dp):
    return parse_config(
        {
            "data": {"label_field": "label", "num_clients": 2, "max_length": 32},
            "silos": {"enabled": True, "labels": LABELS},
            "model": {"name": "tiny-classifier", "params": {"dim": 16}},
            "train": {"rounds": 2, "batch_size": 16},
            "dp": {"target_epsilon": 8.0, **dp},
            "canaries": {"count": 2, "repeats": [1, 4]},
        },
        source="test",
    )


def _node(tmp_path: Path, site: str, data: Path) -> SiloNode:
    return SiloNode(data, site, tmp_path / f"state-{site}")


def _entry(config, records=100, rounds=(1, 2)):
    from federated.task import noise_multiplier_for, plan

    entry = client.new_ledger_entry(config, "site-a", records)
    sigma = noise_multiplier_for(records, train=config.train, dp=config.dp, delta=entry.delta)
    _, steps, rate = plan(records, config.train)
    for rnd in rounds:
        step = AccountingStep(rnd, sigma, rate, steps)
        history = [*entry.opacus_history(), (sigma, rate, steps)]
        entry = entry.with_step(step, epsilon_of(history, entry.delta, entry.accountant))
    return entry


def test_a_silo_config_names_no_corpus_and_lists_its_labels():
    with pytest.raises(Exception, match="names a corpus"):
        parse_config({"data": {"path": "x.jsonl"}, "silos": {"enabled": True, "labels": LABELS}}, check_names=False)
    with pytest.raises(Exception, match="at least two distinct labels"):
        parse_config({"silos": {"enabled": True, "labels": ["a"]}}, check_names=False)
    with pytest.raises(Exception, match="user_dp"):
        parse_config(
            {"data": {"path": "x"}, "secure_aggregation": {"enabled": True}, "user_dp": {"enabled": True}},
            check_names=False,
        )


def test_a_node_reads_only_its_file_and_keeps_its_canaries(tmp_path):
    files = _silo_files(tmp_path)
    config = _config()
    node = _node(tmp_path, "lakeside", files["lakeside"])
    dataset = load_silo(config, node)
    assert dataset.client_ids == ("lakeside",) and list(dataset.labels) == LABELS
    (silo,) = dataset.clients
    assert len(silo.train) + len(silo.holdout) == 127 + 2 * (1 + 4)
    canaries = [e for e in silo.train if e.canary_id]
    assert len(canaries) == 2 * (1 + 4)
    secrets = json.loads((node.run_state(config) / "canaries.json").read_text(encoding="utf-8"))
    assert (node.run_state(config) / "canaries.json").stat().st_mode & 0o777 == 0o600
    assert {c["client_id"] for c in secrets["canaries"]} == {"lakeside"}
    # the same node, a fresh process: the same canaries (drawn once per run)
    again = load_silo(config, node)
    assert [e.text for e in again.clients[0].train] == [e.text for e in silo.train]
    # another silo draws its own secrets
    other = load_silo(config, _node(tmp_path, "riverview", files["riverview"]))
    theirs = {e.text for e in other.clients[0].train if e.canary_id}
    assert not theirs & {e.text for e in canaries}


def test_a_silo_label_outside_the_run_labels_names_file_line_and_field(tmp_path):
    path = tmp_path / "silo.jsonl"
    rows = [{"text": f"note {i}", "label": "billing" if i % 2 else "oncology"} for i in range(20)]
    rows[13]["label"] = "dermatology"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_silo(_config(), _node(tmp_path, "site-a", path))
    assert err.value.line == 14 and err.value.field == "label" and str(path) in str(err.value)


def test_a_silo_file_that_changes_during_the_run_stops_the_node(tmp_path):
    files = _silo_files(tmp_path)
    config = _config()
    node = _node(tmp_path, "lakeside", files["lakeside"])
    load_silo(config, node)
    with files["lakeside"].open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "one more note", "label": "billing"}) + "\n")
    with pytest.raises(RunError, match="changed since the run started"):
        load_silo(config, node)


def test_a_node_config_needs_client_id_and_state_dir():
    assert SiloNode.from_node_config({"partition-id": 0}) is None
    with pytest.raises(RunError, match="client-id or state-dir"):
        SiloNode.from_node_config({"data-path": "/x.jsonl"})
    with pytest.raises(RunError, match="lower-case"):
        SiloNode.from_node_config({"data-path": "/x.jsonl", "client-id": "Site A", "state-dir": "/s"})


def test_the_server_checks_every_reported_entry():
    config = _config()
    entry = _entry(config)
    assert check_entry(entry, config).problem is None
    lied = replace(entry, epsilon=entry.epsilon / 2)
    checked = check_entry(lied, config)
    assert "history gives" in checked.problem and checked.entry.epsilon == pytest.approx(entry.epsilon)
    fewer = replace(entry, history=tuple(replace(h, sample_rate=h.sample_rate / 4) for h in entry.history))
    assert "sample rate" in check_entry(fewer, config).problem
    assert "delta" in check_entry(replace(entry, delta=0.5), config).problem
    assert "clipping norm" in check_entry(replace(entry, max_grad_norm=10.0), config).problem
    over = _entry(replace(config, dp=replace(config.dp, target_epsilon=20.0)))
    assert "exceeds the run's target" in check_entry(over, config).problem
    rerun = _entry(config, rounds=(1, 1))  # round 1 failed after this client trained, then ran again on --resume
    assert check_entry(rerun, config, before=_entry(config, rounds=(1,))).problem is None
    first = _entry(config, rounds=(1,))
    changed = replace(entry, history=(replace(entry.history[0], steps=1), entry.history[1]))
    assert "does not go on" in check_entry(changed, config, before=first).problem


def test_a_silo_round_in_process_server_never_sees_a_path_or_secret(tmp_path):
    """The server prepares without a corpus; two silos train one round through
    `federated.client.train` with their own node; the server takes their replies."""
    from federated.models import trainable_state

    files = _silo_files(tmp_path)
    config = _config()
    run = RunDir(tmp_path / "server" / "run")
    prepare_run(config, run, resume=False)
    clients = run.read_clients()
    assert clients.silos == 2 and clients.clients == ()
    config_json = json.dumps(run.load_config().to_json(), sort_keys=True)
    from federated.models import build_model

    bundle = build_model(config.model, task=config.data.task, num_labels=len(LABELS), seed=0)
    weights = trainable_state(bundle.model)
    ledger = PrivacyLedger(dp_enabled=True)
    for site, path in files.items():
        node = _node(tmp_path, site, path)
        reply = client.train(
            config_json=config_json,
            canaries_json="",
            ledger_json=ledger.dumps(),
            weights=weights,
            server_round=1,
            partition_id=0,
            num_partitions=None,
            node=node,
        )
        assert reply.client_id == site and reply.state is not None
        guard = {
            wire.CLIENT_ID: site,
            wire.LEDGER_ENTRY: json.dumps(asdict(reply.ledger_entry)),
            wire.CLIENT_INFO: json.dumps(reply.info),
            wire.STOPPED: "",
        }
        ledger, clients, problem = _take_reply(run, config, ledger, clients, guard)
        assert problem is None
    assert [c.client_id for c in run.read_clients().clients] == ["lakeside", "riverview"]
    assert all(0 < c.epsilon <= 8.0 for c in ledger.clients)
    secrets = [
        c["secret"]
        for site in files
        for c in json.loads((_node(tmp_path, site, files[site]).run_state(config) / "canaries.json").read_text())[
            "canaries"
        ]
    ]
    for f in (tmp_path / "server").rglob("*"):
        if f.is_file():
            text = f.read_text(encoding="utf-8", errors="replace")
            assert not any(str(p) in text or p.name in text for p in files.values()), f
            assert not any(s in text for s in secrets), f

    # the privacy audit runs on a node, with its own data and canaries; not on the server
    from federated.models import save_model
    from guard import audit
    from guard.core.errors import GuardError

    save_model(bundle, run.model_dir, labels=LABELS)
    with pytest.raises(GuardError, match="stay on its nodes"):
        audit.privacy(run.path, references=0, checks=["exposure"])
    node = _node(tmp_path, "lakeside", files["lakeside"])
    report = audit.privacy(run.path, silo=node, references=0, checks=["exposure"], out=tmp_path / "node_audit.json")
    assert report.subject["canaries"] == 4 and report.subject["corpus"] == "notes.jsonl"
    assert sorted(f.group for f in report.findings if f.check == "canary_exposure") == ["repeats=1"] * 2 + [
        "repeats=4"
    ] * 2
    assert not any(s in (tmp_path / "node_audit.json").read_text() for s in secrets)


@pytest.mark.slow
def test_a_client_that_understates_its_epsilon_is_rejected_and_named(tmp_path):
    """Through `guard federate` (Flower's simulation, four sites): lakeside's round-1 entry
    claims less than its history gives; the server rejects and names it, trains on with the
    other three, and keeps its own recomputation on the ledger. One round shows all of it."""
    cfg = tmp_path / "federate.toml"
    cfg.write_text(
        f'[data]\npath = "{NOTES}"\nlabel_field = "label"\npartition = "field"\npartition_field = "site"\n'
        'max_length = 32\n[model]\nname = "tiny-classifier"\n[train]\nrounds = 1\nbatch_size = 16\n'
        "[dp]\ntarget_epsilon = 8.0\n",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(cfg), "--out", str(run)],
        cwd=ROOT,
        env={**os.environ, "GUARD_FEDERATE_FAULT": "lakeside:1:understate"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    failures = [json.loads(line) for line in (run / "failures.jsonl").read_text().splitlines()]
    assert [(f["round"], f["client"]) for f in failures] == [(1, "lakeside")]
    assert "ledger entry rejected" in failures[0]["reason"] and "history gives" in failures[0]["reason"]
    trained = [
        json.loads(line)["client"]
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if '"phase": "train"' in line and '"round": 1,' in line
    ]
    assert "lakeside" not in trained and len(trained) == 3
    ledger = json.loads((run / "ledger.json").read_text())
    for c in ledger["clients"]:  # the ledger keeps the server's recomputation, never the claim
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
