import pytest

from guard.core import Policy, PolicyError, load_policy, parse_policy


def test_default_policy_tags_everything():
    policy = Policy()
    assert policy.operator("PERSON").type == "tag"
    assert policy.threshold("PERSON") == policy.default_threshold


def test_policy_parses_operators_thresholds_and_recognizers(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        """
[detect]
entities = ["PERSON", "EMPLOYEE_ID"]
default_threshold = 0.3
allow_list = ["Dr. Seuss"]
[detect.thresholds]
PERSON = 0.6

[[recognizers]]
name = "employee_id"
entity = "EMPLOYEE_ID"
patterns = ['EMP-\\d{6}']

[operators]
default = "redact"
PERSON = { type = "mask", keep_last = 2 }
""",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.entities == ("PERSON", "EMPLOYEE_ID")
    assert policy.threshold("PERSON") == 0.6 and policy.threshold("EMPLOYEE_ID") == 0.3
    assert policy.operator("PERSON").params == {"keep_last": 2}
    assert policy.operator("EMPLOYEE_ID").type == "redact"
    assert policy.recognizers[0].patterns == ("EMP-\\d{6}",)


def test_config_hash_changes_with_settings():
    assert Policy().config_hash() == Policy().config_hash()
    assert Policy().config_hash() != Policy(default_threshold=0.9).config_hash()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"detct": {}}, "unknown section"),
        ({"detect": {"treshold": 1}}, "unknown key"),
        ({"detect": {"thresholds": {"PERSON": 3}}}, "from 0 to 1"),
        ({"recognizers": [{"name": "x", "entity": "X"}]}, "patterns"),
        ({"operators": {"PERSON": {"keep_last": 1}}}, '"type"'),
    ],
)
def test_bad_policy_is_rejected_with_its_location(data, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(data, source="p.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[detect\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="bad.toml"):
        load_policy(path)
