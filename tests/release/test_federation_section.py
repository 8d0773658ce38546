"""The report says how a run was federated: simulation or served, silos, transport, SecAgg+."""

from __future__ import annotations

from federated.config import parse_config
from guard.release.sections import _federation


def _config(**sections):
    return parse_config({"data": {"path": "x.jsonl"}, **sections}, check_names=False)


def test_a_simulation_has_no_transport():
    out = _federation(_config(), {})
    assert out["engine"] == "simulation" and out["transport"].startswith("none") and out["insecure"] is None


def test_an_insecure_deployment_is_shown_as_insecure():
    out = _federation(_config(), {"tls": False, "node_auth": False, "insecure": True, "registered_nodes": []})
    assert out["insecure"] is True and out["transport"].startswith("INSECURE")


def test_tls_node_auth_silos_and_secure_aggregation():
    config = parse_config(
        {"silos": {"enabled": True, "labels": ["a", "b"]}, "secure_aggregation": {"enabled": True}},
        check_names=False,
    )
    deployment = {"tls": True, "node_auth": True, "insecure": False, "registered_nodes": [{"key": "a"}, {"key": "b"}]}
    out = _federation(config, deployment)
    assert out["transport"] == "TLS, node authentication" and out["registered_nodes"] == 2
    assert out["data"].startswith("silos") and out["secure_aggregation"] is True
