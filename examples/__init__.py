"""The example inputs, installed as the package `guard.examples` (pyproject.toml maps it
to this folder): `guard demo` reads clinical_notes.jsonl, policy.toml,
demo_federate.toml and release-policy.toml from here with importlib.resources."""
