"""The privacy ledger (moved to `guard.core.ledger`, where the run directory's reader
and the release gate read it without torch); re-exported here for the trainers."""

from guard.core import ledger as _ledger
from guard.core.ledger import *  # noqa: F403  (the names of guard.core.ledger.__all__)

__all__ = list(_ledger.__all__)
