"""A command whose optional packages are missing stops with the exact install hint (exit DEPENDENCY)."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from guard.cli import _GuardGroup
from guard.core.errors import ExitCode

runner = CliRunner()


def _app_raising(error: BaseException) -> typer.Typer:
    app = typer.Typer(cls=_GuardGroup)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize(
    ("module", "extra"),
    [("torch", "federate"), ("presidio_analyzer", "scrub"), ("fairlearn", "audit"), ("flwr.app", "federate")],
)
def test_a_missing_module_of_an_extra_names_the_pip_command(module, extra):
    result = runner.invoke(_app_raising(ModuleNotFoundError(f"No module named {module!r}", name=module)), ["boom"])
    assert result.exit_code == ExitCode.DEPENDENCY
    assert f"pip install 'guard[{extra}]'" in result.stderr
    assert "Traceback" not in result.output


def test_a_missing_module_of_no_extra_stays_a_bug():
    result = runner.invoke(_app_raising(ModuleNotFoundError("No module named 'nope'", name="nope")), ["boom"])
    assert isinstance(result.exception, ModuleNotFoundError)


def test_guard_federate_without_torch_says_pip_install_guard_federate():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if the federate extra were not installed\n"
        "from guard.cli import main\n"
        "sys.argv = ['guard', 'federate', '--list-models']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.DEPENDENCY, done.stderr
    assert "pip install 'guard[federate]'" in done.stderr
