"""One registry shape for every extension point (issue 12): register by name (direct or
as a decorator) with metadata, duplicates refused, unknown names listed from the registry."""

import subprocess
import sys

import pytest

from guard.core.errors import GuardError, PolicyError
from guard.core.registry import DuplicateNameError, Registry


def test_register_directly_or_as_a_decorator_with_metadata():
    things: Registry[object] = Registry("thing")
    assert things.register("b", 2, colour="red") == 2

    @things.register("a", colour="blue")
    def a() -> int:
        return 1

    assert things.names() == ["a", "b"] and list(things) == ["a", "b"] and len(things) == 2
    assert things.get("a") is a and things["b"] == 2 and "a" in things and "z" not in things
    assert things.meta("a") == {"colour": "blue"} and things.items() == [("a", a), ("b", 2)]


def test_a_duplicate_name_is_refused_and_the_first_entry_kept():
    things: Registry[int] = Registry("thing")
    things.register("a", 1)
    with pytest.raises(DuplicateNameError, match="thing 'a' is already registered") as info:
        things.register("a", 2)
    assert isinstance(info.value, GuardError) and isinstance(info.value, ValueError)
    assert things.get("a") == 1


def test_an_unknown_name_raises_the_registry_error_listing_sorted_names():
    things: Registry[int] = Registry("strategy", error=PolicyError)
    for name in ("fedprox", "fedavg", "fedadam"):
        things.register(name, 0)
    with pytest.raises(PolicyError) as info:
        things.get("fedx", source="run.toml")
    assert str(info.value) == "run.toml: unknown strategy 'fedx'; known: fedadam, fedavg, fedprox"
    with pytest.raises(PolicyError):
        things.meta("fedx")


def _extension_points():
    from audits.findings import AUDITS
    from federated.models import MODELS
    from federated.strategies import STRATEGIES
    from guard.deid.operators import OPERATORS
    from guard.deid.precision import PRECISION_RULES
    from guard.deid.recognizers import RECOGNIZERS

    return {
        "operator": OPERATORS,
        "recognizer": RECOGNIZERS,
        "precision rule": PRECISION_RULES,
        "strategy": STRATEGIES,
        "model": MODELS,
        "audit": AUDITS,
    }


def test_every_extension_point_is_a_registry_that_refuses_duplicates():
    import audits.explain
    import audits.fairness
    import audits.privacy  # noqa: F401  (each registers its audit)

    points = _extension_points()
    for kind, registry in points.items():
        assert isinstance(registry, Registry) and registry.kind == kind and len(registry) > 0, kind
        first = registry.names()[0]
        with pytest.raises(DuplicateNameError):
            registry.register(first, registry.get(first))


def test_the_public_helpers_are_thin_uses_of_the_registries():
    from audits.findings import AuditError, audit_names, get_audit
    from federated.config import ConfigError
    from federated.models import model_names
    from federated.strategies import strategy_names
    from guard.deid.operators import make_operator, operator_names
    from guard.deid.precision import precision_rule_names, resolve_rules
    from guard.deid.recognizers import make_recognizer, recognizer_names

    points = _extension_points()
    assert operator_names() == points["operator"].names() and "surrogate" in operator_names()
    assert recognizer_names() == points["recognizer"].names() and "credit_card" in recognizer_names()
    assert precision_rule_names() == points["precision rule"].names()
    assert strategy_names() == ["fedadam", "fedavg", "fedprox"]
    assert model_names() == points["model"].names() and audit_names() == points["audit"].names()
    with pytest.raises(PolicyError, match=f"unknown operator 'shuffle'; known: {', '.join(operator_names())}"):
        make_operator("shuffle", {}, key=None)
    with pytest.raises(PolicyError, match="unknown recognizer 'nope'; known: age, "):
        make_recognizer("nope")
    with pytest.raises(PolicyError, match="unknown rule"):
        resolve_rules(("nope",))
    with pytest.raises(AuditError, match=f"unknown audit 'nope'; known: {', '.join(audit_names())}"):
        get_audit("nope")
    assert issubclass(ConfigError, GuardError)


def test_the_core_imports_no_ml_library():
    code = (
        "import sys, guard.core.registry, guard.core.rundir, guard.core.seeding, guard.core.jsonutil, "
        "guard.core.schema, guard.core.ledger; "
        "print(sorted(m for m in ('torch', 'flwr', 'opacus', 'presidio_analyzer', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
