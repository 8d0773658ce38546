"""`guard --version`: fast, exit 0, names guard and the key libraries, imports no torch."""

import subprocess
import sys

from typer.testing import CliRunner

import guard
from guard.cli import app
from guard.core.errors import ExitCode

runner = CliRunner()


def test_version_prints_guard_version_and_exits_0():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == ExitCode.OK
    first = result.stdout.splitlines()[0]
    assert first == f"guard {guard.__version__}"
    assert "spacy" in result.stdout and "torch" in result.stdout


def test_version_and_help_import_no_torch_presidio_or_flower():
    code = (
        "import sys\n"
        "from guard.cli import app\n"
        "try:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'presidio_analyzer', 'spacy', 'flwr', 'audits', 'federated') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_audit_command_modules_do_not_import_each_other():
    import ast
    from pathlib import Path

    for name in ("audit_fairness.py", "audit_privacy.py"):
        tree = ast.parse(Path("guard/cli", name).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "guard.cli.audit" not in imported, name
