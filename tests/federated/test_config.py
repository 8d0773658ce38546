import json

import pytest

from federated.config import (
    ClippingMode,
    ConfigError,
    GradSampleMode,
    Optimizer,
    Partition,
    Task,
    config_from_json,
    load_config,
    parse_config,
)
from federated.ledger import AccountingStep, ClientLedger, PrivacyLedger
from guard.core.errors import ExitCode

BASE = {"data": {"path": "examples/clinical_notes.jsonl", "label_field": "label"}}


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[data]\npath = "x.jsonl"\npartition = "field"\npartition_field = "site"\n', encoding="utf-8")
    config = load_config(
        path, overrides=["dp.target_epsilon=2", "model.params.dim=32", "train.rounds=5", "canaries.repeats=[1, 4]"]
    )
    assert config.data.partition is Partition.field and config.data.task is Task.classification
    assert config.dp.target_epsilon == 2.0 and config.train.rounds == 5
    assert config.model.params == {"dim": 32} and config.canaries.repeats == (1, 4)


def test_config_json_round_trip_keeps_the_hash():
    config = parse_config(BASE)
    again = config_from_json(json.loads(json.dumps(config.to_json())))
    assert again == config and again.config_hash() == config.config_hash()
    assert parse_config({**BASE, "train": {"rounds": 4}}).config_hash() != config.config_hash()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**BASE, "trian": {}}, "unknown section"),
        ({**BASE, "train": {"round": 3}}, "unknown key"),
        ({**BASE, "dp": {"target_epsilon": 8.0, "noise_multiplier": 1.0}}, "exactly one"),
        ({**BASE, "data": {"path": "x", "partition": "field"}}, "partition_field"),
        ({**BASE, "data": {"path": "x", "partition": "random"}}, "not one of"),
        ({**BASE, "train": {"rounds": "three"}}, "wrong type"),
        ({"data": {"path": "x", "label_field": ""}}, "label_field"),
        ({}, "path is required"),
    ],
)
def test_bad_config_is_a_clear_error(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data, source="f.toml")


def test_ledger_round_trip_and_statement():
    entry = ClientLedger("site-a", 200, "prv", 5e-4, 1.0, "ghost", False, 8.0)
    entry = entry.with_step(AccountingStep(1, 1.2, 0.16, 7), 1.5).with_step(AccountingStep(2, 1.2, 0.16, 7), 2.1)
    ledger = (
        PrivacyLedger()
        .with_client(entry)
        .with_client(ClientLedger("site-b", 90, "prv", 1e-3, 1.0, "ghost", False, 8.0))
    )
    assert [c.client_id for c in ledger.clients] == ["site-a", "site-b"]
    assert ledger.client("site-a").opacus_history() == [(1.2, 0.16, 7), (1.2, 0.16, 7)]
    assert PrivacyLedger.from_json(json.loads(ledger.dumps())) == ledger
    assert "2.10" in ledger.statement() and "site-a" in ledger.statement()
    assert "No differential privacy" in PrivacyLedger(dp_enabled=False).statement()


def test_a_fixed_noise_multiplier_replaces_the_default_target():
    config = parse_config({**BASE, "dp": {"noise_multiplier": 1.1}})
    assert config.dp.noise_multiplier == 1.1 and config.dp.target_epsilon is None


# -- every choice is an enum (or a registry name) checked when the config loads ---------------------


@pytest.mark.parametrize(
    ("toml", "key", "allowed"),
    [
        ('[train]\noptimizer = "adamw"\n', "train.optimizer", ["adam", "sgd"]),
        ('[dp]\nclipping = "flat"\n', "dp.clipping", ["ghost", "hooks", "functorch"]),
        ('[user_dp]\nenabled = true\nclipping = "median"\n', "user_dp.clipping", ["fixed", "adaptive"]),
        ('[dp]\naccountant = "gdp"\n', "dp.accountant", ["prv", "rdp"]),
        ('[data]\nformat = "xml"\n', "data.format", ["jsonl", "csv", "parquet", "txt"]),
        ('[data]\ntask = "regression"\n', "data.task", ["classification", "causal_lm"]),
    ],
    ids=["optimizer", "dp_clipping", "user_dp_clipping", "accountant", "format", "task"],
)
def test_a_bad_choice_fails_at_load_naming_the_file_the_key_and_the_allowed_values(tmp_path, toml, key, allowed):
    path = tmp_path / "federate.toml"
    path.write_text('[data]\npath = "x.jsonl"\n' + toml.removeprefix("[data]\n"), encoding="utf-8")  # one [data]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and f"[{key}]" in message and str(allowed) in message
    assert info.value.exit_code == ExitCode.CONFIG


def test_choices_load_as_enums_that_compare_equal_to_their_strings():
    config = parse_config(
        {
            **BASE,
            "train": {"optimizer": "sgd"},
            "dp": {"clipping": "hooks"},
            "user_dp": {"clipping": "adaptive"},
        }
    )
    assert config.train.optimizer is Optimizer.sgd and config.train.optimizer == "sgd"
    assert config.dp.clipping is GradSampleMode.hooks and config.user_dp.clipping is ClippingMode.adaptive
    assert config_from_json(json.loads(json.dumps(config.to_json()))) == config


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"model": {"name": "gpt-17"}}, "[model] name: unknown model 'gpt-17'; known: {models}"),
        ({"strategy": {"name": "fedx"}}, "[strategy] name: unknown strategy 'fedx'; known: fedadam, fedavg, fedprox"),
        ({"strategy": {"name": "fedprox", "params": {"eta": 0.1}}}, "[strategy] fedprox has no parameter(s) ['eta']"),
    ],
    ids=["model", "strategy", "strategy_param"],
)
def test_model_and_strategy_names_are_checked_against_their_registries_at_load(tmp_path, section, message):
    from federated.models import model_names

    message = message.format(models=", ".join(model_names()))  # every registered name, sorted
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **section}, source="federate.toml")
    assert str(info.value).startswith("federate.toml: ") and message in str(info.value)


def test_strategies_declare_their_parameters_when_they_register():
    from federated.strategies import STRATEGIES, strategy_params

    assert strategy_params("fedavg") == frozenset()
    assert strategy_params("fedprox") == {"proximal_mu"}
    assert strategy_params("fedadam") == {"eta", "eta_l", "beta_1", "beta_2", "tau"}
    assert all("params" in STRATEGIES.meta(name) for name in STRATEGIES)


def test_keys_added_later_stay_out_of_the_hash_while_they_hold_their_default() -> None:
    """A run directory written before [card], save_merged and compare_without_dp existed
    must still match its recorded config hash."""
    from dataclasses import replace

    from federated.types import DPConfig, FederateConfig, ModelConfig

    plain = FederateConfig()
    data = plain.to_json()
    assert "card" not in data and "save_merged" not in data["model"] and "compare_without_dp" not in data["dp"]
    merged = replace(plain, model=ModelConfig(save_merged=True))
    compared = replace(plain, dp=DPConfig(compare_without_dp=True))
    assert merged.to_json()["model"]["save_merged"] is True
    assert len({plain.config_hash(), merged.config_hash(), compared.config_hash()}) == 3
