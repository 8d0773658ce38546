"""guard: de-identify, train privately, audit and report on language models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("guard")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
