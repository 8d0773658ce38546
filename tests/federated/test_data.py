import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from federated.config import CanaryConfig, ConfigError, DataConfig, Partition, Task
from federated.data import (
    CANARY_TEMPLATE,
    FederatedDataset,
    canaries_from_json,
    canaries_to_json,
    load_federated_dataset,
    make_canaries,
    safe_client_id,
    with_canaries,
)
from guard.core.errors import InputError
from tests.conftest import write_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTES = EXAMPLES / "clinical_notes.jsonl"
SITES = ["lakeside", "northgate", "riverview", "st-marys"]
NOTE_LABELS = ("billing", "cardiology", "neurology", "oncology", "orthopedics")


def notes(**changes) -> DataConfig:
    base = DataConfig(path=str(NOTES), partition=Partition.field, partition_field="site")
    return replace(base, **changes)


def rows(n: int, *, labels=("a", "b"), sites=("x", "y")) -> list[dict]:
    return [
        {"id": i, "text": f"note {i}", "label": labels[i % len(labels)], "site": sites[i % len(sites)]}
        for i in range(n)
    ]


def lines_of(fds: FederatedDataset, split: str) -> dict[str, list[int]]:
    return {c.client_id: [e.line for e in getattr(c, split) if e.canary_id is None] for c in fds.clients}


def label_shares(examples) -> list[float]:
    counts = Counter(e.label for e in examples)
    return [counts.get(i, 0) / len(examples) for i in range(len(NOTE_LABELS))]


def mean_tv_from_global(fds: FederatedDataset) -> float:
    everything = [e for c in fds.clients for e in (*c.train, *c.holdout)]
    overall = label_shares(everything)
    tvs = []
    for c in fds.clients:
        shares = label_shares((*c.train, *c.holdout))
        tvs.append(0.5 * sum(abs(a - b) for a, b in zip(shares, overall)))
    return sum(tvs) / len(tvs)


# -- partitions ----------------------------------------------------------------


def test_field_partition_makes_one_client_per_site_and_keeps_every_record():
    fds = load_federated_dataset(notes(), seed=0)
    assert fds.client_ids == tuple(SITES)
    assert fds.labels == NOTE_LABELS
    site_of = {i: json.loads(line)["site"] for i, line in enumerate(NOTES.read_text().splitlines(), start=1)}
    seen = []
    for client in fds.clients:
        lines = [e.line for e in (*client.train, *client.holdout)]
        assert {site_of[n] for n in lines} == {client.client_id}
        seen.extend(lines)
    assert sorted(seen) == list(range(1, 505))


def test_field_partition_reads_csv_with_the_same_ids():
    fds = load_federated_dataset(notes(path=str(EXAMPLES / "clinical_notes.csv")), seed=0)
    assert fds.client_ids == tuple(SITES)
    assert sum(len(c.train) + len(c.holdout) for c in fds.clients) == 50


def test_iid_partition_sizes_differ_by_at_most_one():
    fds = load_federated_dataset(notes(partition=Partition.iid, num_clients=5), seed=3)
    sizes = [len(c.train) + len(c.holdout) for c in fds.clients]
    assert fds.client_ids == ("client-000", "client-001", "client-002", "client-003", "client-004")
    assert sum(sizes) == 504
    assert max(sizes) - min(sizes) <= 1


def test_iid_partition_is_deterministic_for_a_seed():
    cfg = notes(partition=Partition.iid, num_clients=4)
    a, b, c = (load_federated_dataset(cfg, seed=s) for s in (7, 7, 8))
    assert a == b
    assert lines_of(a, "train") != lines_of(c, "train")


def test_dirichlet_small_alpha_is_skewed_and_iid_is_not():
    skewed = load_federated_dataset(notes(partition=Partition.dirichlet, num_clients=4, alpha=0.1), seed=0)
    even = load_federated_dataset(notes(partition=Partition.iid, num_clients=4), seed=0)
    assert mean_tv_from_global(skewed) > 0.35
    assert mean_tv_from_global(even) < 0.1
    assert sum(len(c.train) + len(c.holdout) for c in skewed.clients) == 504


def test_dirichlet_is_deterministic_for_a_seed_and_changes_with_it():
    cfg = notes(partition=Partition.dirichlet, num_clients=4, alpha=0.3)
    a, b, c = (load_federated_dataset(cfg, seed=s) for s in (1, 1, 2))
    assert a == b
    assert lines_of(a, "train") != lines_of(c, "train")


def test_dirichlet_gives_every_client_enough_records():
    fds = load_federated_dataset(notes(partition=Partition.dirichlet, num_clients=10, alpha=0.05), seed=0)
    assert all(len(c.train) >= 2 and len(c.holdout) >= 1 for c in fds.clients)


def test_dirichlet_that_cannot_fill_every_client_is_a_config_error(tmp_path):
    path = write_jsonl(tmp_path / "small.jsonl", rows(12))
    cfg = DataConfig(path=str(path), partition=Partition.dirichlet, num_clients=6, alpha=0.01)
    with pytest.raises(ConfigError, match="Dirichlet"):
        load_federated_dataset(cfg, seed=0)


def test_dirichlet_needs_classification():
    with pytest.raises(ConfigError, match="classification"):
        load_federated_dataset(notes(partition=Partition.dirichlet, task=Task.causal_lm), seed=0)


# -- holdout ---------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_holdout_fraction_is_respected_per_client(fraction):
    fds = load_federated_dataset(notes(holdout=fraction), seed=0)
    for client in fds.clients:
        n = len(client.train) + len(client.holdout)
        assert abs(len(client.holdout) - fraction * n) <= 0.5
        assert not {e.line for e in client.train} & {e.line for e in client.holdout}


def test_holdout_is_stratified_by_label():
    fds = load_federated_dataset(notes(holdout=0.2), seed=0)
    for client in fds.clients:
        everything = Counter(e.label for e in (*client.train, *client.holdout))
        held = Counter(e.label for e in client.holdout)
        for label, count in everything.items():
            assert abs(held[label] - 0.2 * count) <= 1


def test_every_client_holds_out_at_least_one_record(tmp_path):
    path = write_jsonl(tmp_path / "tiny.jsonl", rows(8))
    fds = load_federated_dataset(
        DataConfig(path=str(path), partition=Partition.iid, num_clients=2, holdout=0.01), seed=0
    )
    assert [len(c.holdout) for c in fds.clients] == [1, 1]


def test_client_too_small_after_holdout_is_a_config_error_naming_it(tmp_path):
    data = rows(10, sites=("x",)) + [{"id": 99, "text": "lonely", "label": "a", "site": "Tiny Site"}]
    path = write_jsonl(tmp_path / "in.jsonl", data)
    with pytest.raises(ConfigError, match=r"client 'tiny-site' has 1 record"):
        load_federated_dataset(DataConfig(path=str(path), partition=Partition.field, partition_field="site"), seed=0)


# -- input errors ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [{"label": None}, {"label": ""}, {"label": "  "}, {}])
def test_missing_label_reports_file_line_and_field(tmp_path, bad):
    data = rows(6)
    data[2] = {k: v for k, v in data[2].items() if k != "label"} | bad
    path = write_jsonl(tmp_path / "in.jsonl", data)
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path)), seed=0)
    assert (err.value.line, err.value.field) == (3, "label")
    assert err.value.path == str(path)
    assert "in.jsonl:3, field 'label'" in str(err.value)


def test_missing_label_in_csv_reports_its_line(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,label\nfirst,a\nsecond,b\nthird,\nfourth,a\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path), num_clients=1), seed=0)
    assert (err.value.line, err.value.field) == (4, "label")


def test_csv_without_the_label_column_names_the_header(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,category\nfirst,a\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path)), seed=0)
    assert (err.value.line, err.value.field) == (1, "label")


@pytest.mark.parametrize("text", [None, 42, ["a"], "   "])
def test_bad_text_reports_line_and_field(tmp_path, text):
    data = rows(6)
    data[4]["text"] = text
    path = write_jsonl(tmp_path / "in.jsonl", data)
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path)), seed=0)
    assert (err.value.line, err.value.field) == (5, "text")


def test_missing_partition_field_reports_line_and_field(tmp_path):
    data = rows(6)
    del data[1]["site"]
    path = write_jsonl(tmp_path / "in.jsonl", data)
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path), partition=Partition.field, partition_field="site"), seed=0)
    assert (err.value.line, err.value.field) == (2, "site")


def test_malformed_jsonl_line_fails_before_training_with_its_line(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", rows(6))
    lines = path.read_text().splitlines()
    lines[3] = '{"text": "broken'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path)), seed=0)
    assert err.value.line == 4
    assert "broken" not in str(err.value)


def test_error_messages_do_not_carry_the_record_text(tmp_path):
    data = rows(6)
    data[2]["text"] = "Patient Zelda Quux SSN 123-45-6789"
    data[2]["label"] = None
    path = write_jsonl(tmp_path / "in.jsonl", data)
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path)), seed=0)
    assert "Zelda" not in str(err.value) and "123-45" not in str(err.value)


def test_a_corpus_with_one_class_is_a_config_error(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", rows(10, labels=("only",)))
    with pytest.raises(ConfigError, match="1 distinct label"):
        load_federated_dataset(DataConfig(path=str(path)), seed=0)


# -- labels, ids, limits -------------------------------------------------------------


def test_labels_are_sorted_names_and_integers_become_strings(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", rows(12, labels=(10, 2, "b")))
    fds = load_federated_dataset(DataConfig(path=str(path), num_clients=2), seed=0)
    assert fds.labels == ("10", "2", "b")
    by_line = {e.line: e.label for c in fds.clients for e in (*c.train, *c.holdout)}
    assert by_line[1] == 0 and by_line[2] == 1 and by_line[3] == 2


def test_causal_lm_has_no_labels(tmp_path):
    data = [{"text": f"line {i}"} for i in range(10)]
    path = write_jsonl(tmp_path / "in.jsonl", data)
    fds = load_federated_dataset(DataConfig(path=str(path), task=Task.causal_lm, num_clients=2), seed=0)
    assert fds.labels == ()
    assert all(e.label is None for c in fds.clients for e in (*c.train, *c.holdout))


def test_max_records_keeps_the_first_n():
    fds = load_federated_dataset(notes(partition=Partition.iid, num_clients=2, max_records=60), seed=0)
    lines = sorted(e.line for c in fds.clients for e in (*c.train, *c.holdout))
    assert lines == list(range(1, 61))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("St. Mary's", "st-mary-s"),
        ("lakeside", "lakeside"),
        ("Zürich Ost", "zurich-ost"),
        ("  North_Gate 2 ", "north-gate-2"),
    ],
)
def test_field_values_become_safe_client_ids(value, expected):
    assert safe_client_id(value) == expected


def test_two_values_with_the_same_client_id_are_a_config_error(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", rows(12, sites=("North Gate", "north-gate")))
    with pytest.raises(ConfigError, match="north-gate"):
        load_federated_dataset(DataConfig(path=str(path), partition=Partition.field, partition_field="site"), seed=0)


# -- canaries -----------------------------------------------------------------------


def canary_cfg(**changes) -> CanaryConfig:
    return replace(CanaryConfig(count=3, repeats=(1, 4, 16), references=5, digits=9), **changes)


def test_make_canaries_draws_count_per_repeat_plus_references():
    canaries = make_canaries(canary_cfg(), client_ids=SITES, seed=0)
    inserted = [c for c in canaries if c.client_id is not None]
    assert len(inserted) == 9
    assert Counter(c.repeats for c in inserted) == {1: 3, 4: 3, 16: 3}
    assert {c.client_id for c in inserted} == {"lakeside"}  # default: the first client
    assert sum(c.client_id is None for c in canaries) == 5
    assert all(len(c.secret) == 9 and c.secret.isdigit() for c in canaries)
    assert len({c.secret for c in canaries}) == len(canaries)
    assert len({c.canary_id for c in canaries}) == len(canaries)
    assert all(c.text == CANARY_TEMPLATE.format(secret=c.secret) for c in canaries)


def test_make_canaries_is_deterministic_for_a_seed():
    a = make_canaries(canary_cfg(), client_ids=SITES, seed=1)
    assert a == make_canaries(canary_cfg(), client_ids=SITES, seed=1)
    assert [c.secret for c in a] != [c.secret for c in make_canaries(canary_cfg(), client_ids=SITES, seed=2)]


def test_canaries_are_spread_over_the_named_clients():
    canaries = make_canaries(canary_cfg(clients=("northgate", "riverview")), client_ids=SITES, seed=0)
    assert Counter(c.client_id for c in canaries if c.client_id) == {"northgate": 5, "riverview": 4}


def test_unknown_canary_client_is_a_config_error_listing_known_ids():
    with pytest.raises(
        ConfigError, match=r"\['nowhere'\].*known: \['lakeside', 'northgate', 'riverview', 'st-marys'\]"
    ):
        make_canaries(canary_cfg(clients=("nowhere",)), client_ids=SITES, seed=0)


def test_canaries_are_inserted_repeats_times_into_their_client_train_split_only():
    canaries = make_canaries(canary_cfg(clients=("riverview",)), client_ids=SITES, seed=0)
    fds = load_federated_dataset(notes(), seed=0, canaries=canaries)
    by_id = {c.canary_id: c for c in canaries}
    for client in fds.clients:
        assert all(e.canary_id is None for e in client.holdout)
        found = Counter(e.canary_id for e in client.train if e.canary_id is not None)
        if client.client_id != "riverview":
            assert not found
            continue
        assert found == {c.canary_id: c.repeats for c in canaries if c.client_id == "riverview"}
        for example in client.train:
            if example.canary_id is not None:
                assert example.text == by_id[example.canary_id].text
                assert example.label is not None and 0 <= example.label < len(NOTE_LABELS)
                assert example.line == 0
    assert fds.summary()["clients"][2]["canary_examples"] == 3 * (1 + 4 + 16)


def test_reference_canaries_are_never_inserted():
    canaries = make_canaries(canary_cfg(), client_ids=SITES, seed=0)
    fds = load_federated_dataset(notes(), seed=0, canaries=canaries)
    references = {c.secret for c in canaries if c.client_id is None}
    for client in fds.clients:
        for example in (*client.train, *client.holdout):
            assert not any(secret in example.text for secret in references)


def test_canaries_land_at_spread_positions_and_do_not_move_the_split():
    canaries = make_canaries(canary_cfg(clients=("st-marys",)), client_ids=SITES, seed=0)
    plain = load_federated_dataset(notes(), seed=0)
    planted = load_federated_dataset(notes(), seed=0, canaries=canaries)
    assert lines_of(plain, "train") == lines_of(planted, "train")
    assert lines_of(plain, "holdout") == lines_of(planted, "holdout")
    positions = [i for i, e in enumerate(planted.client("st-marys").train) if e.canary_id]
    assert positions[0] < len(planted.client("st-marys").train) // 4 < positions[-1]


def test_inserting_canaries_after_loading_equals_passing_them_to_the_loader():
    plain = load_federated_dataset(notes(), seed=4)
    canaries = make_canaries(canary_cfg(clients=("northgate", "lakeside")), client_ids=plain.client_ids, seed=4)
    assert with_canaries(plain, canaries, seed=4) == load_federated_dataset(notes(), seed=4, canaries=canaries)
    assert with_canaries(plain, [], seed=4) is plain


def test_canaries_in_causal_lm_have_no_label(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": f"line {i}"} for i in range(10)])
    canaries = make_canaries(canary_cfg(count=1, repeats=(2,), references=0), client_ids=["client-000"], seed=0)
    fds = load_federated_dataset(
        DataConfig(path=str(path), task=Task.causal_lm, num_clients=1), seed=0, canaries=canaries
    )
    planted = [e for e in fds.client("client-000").train if e.canary_id]
    assert len(planted) == 2 and all(e.label is None for e in planted)


def test_canary_for_a_client_the_split_lacks_is_a_config_error():
    canaries = make_canaries(canary_cfg(clients=("ghost",)), client_ids=["ghost"], seed=0)
    with pytest.raises(ConfigError, match="ghost"):
        load_federated_dataset(notes(), seed=0, canaries=canaries)


def test_canaries_round_trip_through_json():
    canaries = make_canaries(canary_cfg(), client_ids=SITES, seed=0)
    data = json.loads(json.dumps(canaries_to_json(canaries)))
    assert canaries_from_json(data) == canaries


def test_canary_repr_hides_the_secret():
    canary = make_canaries(canary_cfg(count=1, repeats=(1,), references=0), client_ids=SITES, seed=0)[0]
    assert canary.secret not in repr(canary)


# -- summary --------------------------------------------------------------------------


def test_summary_counts_without_text():
    canaries = make_canaries(canary_cfg(), client_ids=SITES, seed=0)
    fds = load_federated_dataset(notes(), seed=0, canaries=canaries)
    summary = fds.summary()
    blob = json.dumps(summary)
    for client in fds.clients:
        for example in (*client.train[:20], *client.holdout[:20]):
            assert example.text not in blob
            assert example.text not in repr(example)
    assert not any(c.secret in blob for c in canaries)
    assert summary["train"] + summary["holdout"] == 504 + 3 * (1 + 4 + 16)
    first = summary["clients"][0]
    assert set(first["train_labels"]) == set(NOTE_LABELS)
    assert sum(first["train_labels"].values()) == first["train"]


def test_unknown_client_lookup_lists_known_ids():
    fds = load_federated_dataset(notes(), seed=0)
    with pytest.raises(ConfigError, match="known: \\['lakeside'"):
        fds.client("elsewhere")


# -- the shipped real-text set ------------------------------------------------------------


def test_redditbias_topics_loads_as_four_balanced_classes():
    cfg = DataConfig(
        path=str(EXAMPLES / "redditbias_topics.jsonl"), partition=Partition.dirichlet, num_clients=4, alpha=0.5
    )
    fds = load_federated_dataset(cfg, seed=0)
    assert fds.labels == ("gender", "orientation", "race", "religion")
    totals = Counter()
    for client in fds.summary()["clients"]:
        totals.update(client["train_labels"])
        totals.update(client["holdout_labels"])
    assert totals == {"gender": 1500, "orientation": 1500, "race": 1500, "religion": 1500}
