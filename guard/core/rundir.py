"""The one reader of a `guard federate` run directory, and its typed contents.

    RUN_DIR/
      config.json            resolved config, its sha256 and library versions (written last when a run is created)
      clients.json           partition summary (counts per client and label; no text), privacy plan, data segments
      metrics.jsonl          one line per client per round and one aggregate line per round
      ledger.json            the privacy ledger (with the data segments)
      state.json             last finished round (what --resume continues from) and the corpus sha256
      checkpoints/round-NNN.safetensors   aggregated trainable weights after each round
      checkpoints/round-NNN.optimizer.safetensors   the server optimizer's state after each round (FedAdam's m, v)
      model/                 final weights (safetensors), model config and tokenizer
      canaries.json          canary secrets for the audits: never copy into a report
      failures.jsonl         clients that raised, per round
      person_salt            with [data] person_field: the key of the person-id HMACs (0600; never copy)

`RunReader` reads every file without torch, Flower or Opacus, so the trainer
(`federated.rundir.RunDir`, which adds the writers), the audits and the release
gate share it. Every read names the file on damage with a RunError (exit 30,
`ExitCode.RUN`); the logs' reader tolerates a torn last line (what a kill during
an append leaves).

    >>> reader = RunReader("runs/demo")
    >>> reader.clients_file.name
    'clients.json'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from guard.core import schema
from guard.core.errors import GuardError, RunError
from guard.core.ledger import PrivacyLedger

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
CANARY_TEMPLATE = "my account number is {secret}"
T = TypeVar("T")
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, IndexError)
FIX = "restore the file or start a new run; a run cannot be resumed without it"


# -- typed contents ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    """state.json: the last finished round (what --resume continues from)."""

    last_round: int
    rounds: int
    config_hash: str
    finished: bool = False
    corpus_sha256: str = ""  # the corpus the next round trains on (see the ledger's data segments)


@dataclass(frozen=True)
class ClientInfo:
    """One client of clients.json: record counts, overall and per label; no text.

    With [data] person_field, also its training split's persons (canary persons
    included, as DP-SGD sees them): how many, how many have several records, and
    the most records of one person. None in runs without a person field."""

    client_id: str
    train: int
    holdout: int = 0
    canary_examples: int = 0
    train_labels: Mapping[str, int] = field(default_factory=dict)
    holdout_labels: Mapping[str, int] = field(default_factory=dict)
    persons: int | None = None
    persons_several: int | None = None
    largest_person: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClientInfo:
        if not isinstance(data["client_id"], str) or not isinstance(data["train"], int):
            raise TypeError("a client entry has no client_id or train count")
        return cls(
            client_id=data["client_id"],
            train=data["train"],
            holdout=int(data.get("holdout", 0)),
            canary_examples=int(data.get("canary_examples", 0)),
            train_labels={str(k): int(v) for k, v in (data.get("train_labels") or {}).items()},
            holdout_labels={str(k): int(v) for k, v in (data.get("holdout_labels") or {}).items()},
            **{k: int(data[k]) for k in _PERSON_COUNTS if data.get(k) is not None},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client_id": self.client_id,
            "train": self.train,
            "holdout": self.holdout,
            "canary_examples": self.canary_examples,
            "train_labels": dict(self.train_labels),
            "holdout_labels": dict(self.holdout_labels),
        }
        out.update({k: getattr(self, k) for k in _PERSON_COUNTS if getattr(self, k) is not None})
        return out


_PERSON_COUNTS = ("persons", "persons_several", "largest_person")


@dataclass(frozen=True)
class CorpusPersons:
    """clients.json's "persons": the persons of the corpus records (all clients, training
    and held out, no canaries) under [data] person_field; counts only, never an id."""

    field: str
    persons: int
    persons_several: int
    largest_person: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorpusPersons:
        return cls(str(data["field"]), *(int(data[k]) for k in _PERSON_COUNTS))


@dataclass(frozen=True)
class ClientsFile:
    """clients.json: the partition summary, the label names, each client's privacy plan
    (noise multiplier, sample rate, steps...) and the ledger's data segments."""

    task: str
    labels: tuple[str, ...]
    clients: tuple[ClientInfo, ...]
    privacy_plan: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    segments: tuple[Mapping[str, Any], ...] = ()
    persons: CorpusPersons | None = None  # with [data] person_field
    silos: int = 0  # a silo run ([silos]): how many silos train; their entries arrive with their replies

    @property
    def client_ids(self) -> tuple[str, ...]:
        return tuple(c.client_id for c in self.clients)

    def client(self, client_id: str) -> ClientInfo | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    @property
    def summary(self) -> dict[str, Any]:
        """The partition summary as `FederatedDataset.summary()` writes it."""
        return partition_summary(self.task, self.labels, self.clients, persons=self.persons)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClientsFile:
        summary = data["summary"]
        silos = int(data.get("silos") or 0)
        if not isinstance(data["labels"], list) or not (summary["clients"] or silos > 0):
            raise ValueError("no labels list or no clients")
        return cls(
            task=str(summary.get("task", "")),
            labels=tuple(str(x) for x in data["labels"]),
            clients=tuple(ClientInfo.from_json(c) for c in summary["clients"]),
            privacy_plan={str(k): dict(v) for k, v in (data.get("privacy_plan") or {}).items()},
            segments=tuple(dict(s) for s in data.get("segments") or ()),
            persons=CorpusPersons.from_json(summary["persons"]) if summary.get("persons") else None,
            silos=silos,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "labels": list(self.labels),
            "privacy_plan": {k: dict(v) for k, v in self.privacy_plan.items()},
            "segments": [dict(s) for s in self.segments],
            **({"silos": self.silos} if self.silos else {}),
        }


def partition_summary(
    task: str, labels: Sequence[str], clients: Sequence[ClientInfo], *, persons: CorpusPersons | None = None
) -> dict[str, Any]:
    """clients.json's "summary": counts per client and label (and of persons, with a person
    field); no text, no canary secrets, no person ids."""
    out = {
        "schema_version": schema.RUN_DATA,
        "task": str(task),
        "labels": list(labels),
        "num_clients": len(clients),
        "train": sum(c.train for c in clients),
        "holdout": sum(c.holdout for c in clients),
        "clients": [c.to_json() for c in clients],
    }
    if persons is not None:
        out["persons"] = asdict(persons)
    return out


@dataclass(frozen=True)
class Canary:
    """A Secret Sharer canary. `client_id` is None for an unused reference
    canary. The secret and the text are kept out of `repr`."""

    canary_id: str
    secret: str = field(repr=False)
    text: str = field(repr=False)
    repeats: int
    client_id: str | None

    @property
    def inserted(self) -> bool:
        return self.client_id is not None


def canaries_to_json(canaries: Sequence[Canary]) -> dict[str, Any]:
    """For the run directory only: the file holds the secrets."""
    return {
        "schema_version": schema.RUN_DATA,
        "template": CANARY_TEMPLATE,
        "canaries": [
            {
                "canary_id": c.canary_id,
                "secret": c.secret,
                "text": c.text,
                "repeats": c.repeats,
                "client_id": c.client_id,
            }
            for c in canaries
        ],
    }


def canaries_from_json(data: Any) -> list[Canary]:
    """ValueError (never naming a secret) when `data` is not a canaries file."""
    if not isinstance(data, dict) or data.get("schema_version") != schema.RUN_DATA:
        raise ValueError(f"canaries file: expected schema_version {schema.RUN_DATA}")
    out: list[Canary] = []
    for i, item in enumerate(data.get("canaries", [])):
        try:
            out.append(
                Canary(
                    canary_id=str(item["canary_id"]),
                    secret=str(item["secret"]),
                    text=str(item["text"]),
                    repeats=int(item["repeats"]),
                    client_id=None if item["client_id"] is None else str(item["client_id"]),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"canaries file: entry {i} is malformed ({type(e).__name__})") from e
    return out


# -- reading ----------------------------------------------------------------------------------------


def _json_error(path: Path, what: str, e: json.JSONDecodeError) -> RunError:
    return RunError(
        f"{path}: {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); was it truncated or edited?",
        hint=FIX,
    )


def read_run_json(path: Path, what: str) -> dict[str, Any]:
    """A run file's JSON object; RunError naming the file when it is missing, unreadable or damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{path}: {what} is missing", hint=FIX) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: cannot read {what} ({type(e).__name__})", hint=FIX) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _json_error(path, what, e) from e
    if not isinstance(data, dict):
        raise RunError(f"{path}: {what} is not a JSON object", hint=FIX)
    return data


def damaged(path: Path, what: str, e: BaseException) -> RunError:
    detail = e.message if isinstance(e, GuardError) else f"{type(e).__name__}: {e}"
    return RunError(f"{path}: {what} is damaged ({detail})", hint=FIX)


def _run_state(data: dict[str, Any]) -> RunState:
    state = RunState(**data)
    if not isinstance(state.last_round, int) or not 0 <= state.last_round <= max(state.rounds, 0):
        raise ValueError(f"last_round {state.last_round!r} is outside 0..{state.rounds!r}")
    return state


class RunReader:
    """Typed, located reads of a run directory's files (no writes, no ML imports)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- files ----------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def ledger_file(self) -> Path:
        return self.path / "ledger.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def failures_file(self) -> Path:
        return self.path / "failures.jsonl"

    @property
    def canaries_file(self) -> Path:
        return self.path / "canaries.json"

    @property
    def clients_file(self) -> Path:
        return self.path / "clients.json"

    @property
    def comparison_file(self) -> Path:
        return self.path / "comparison.json"

    @property
    def person_salt_file(self) -> Path:
        """The run's random key for hashing person ids (HMAC-SHA256), 0600; never copy it."""
        return self.path / "person_salt"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def model_meta_file(self) -> Path:
        return self.model_dir / "guard_model.json"

    def checkpoint(self, round_: int) -> Path:
        return self.path / CHECKPOINTS / f"round-{round_:03d}.safetensors"

    def require(self) -> None:
        """RunError naming the path unless it is a run directory (with config.json)."""
        if not self.path.exists():
            raise RunError(f"{self.path}: no such run directory", hint="give the folder guard federate --out wrote")
        if not self.path.is_dir():
            raise RunError(f"{self.path}: not a run directory (a file, not a folder)")
        if not self.config_file.is_file():
            raise RunError(f"{self.path}: not a guard federate run directory (no config.json)")

    # -- JSON files -----------------------------------------------------------
    def read_config_payload(self) -> dict[str, Any]:
        """config.json as written: {"config": ..., "config_hash": ..., "versions": ...}
        (`federated.rundir.RunDir.load_config` turns it into a checked FederateConfig)."""
        if not self.config_file.is_file():
            raise RunError(f"{self.path}: not a guard federate run directory (no config.json)")
        return read_run_json(self.config_file, "the run config")

    def read_state(self) -> RunState:
        """The last finished round; RunState(0, 0, "") when the run has no state.json."""
        if not self.state_file.is_file():
            return RunState(0, 0, "")
        return self._read_parsed(self.state_file, "the run state", _run_state)

    def read_ledger(self) -> PrivacyLedger | None:
        """The privacy ledger, None when the run has none yet; RunError on damage."""
        if not self.ledger_file.is_file():
            return None
        return self._read_parsed(self.ledger_file, "the privacy ledger", PrivacyLedger.from_json)

    def read_clients(self) -> ClientsFile:
        """clients.json; RunError when missing or damaged."""
        return self._read_parsed(self.clients_file, "the client summary", ClientsFile.from_json)

    @staticmethod
    def _read_parsed(path: Path, what: str, parse: Callable[[dict[str, Any]], T]) -> T:
        """`parse` of a run file's JSON object; RunError naming the file and the damage when it fails."""
        data = read_run_json(path, what)
        try:
            return parse(data)
        except _DAMAGE as e:
            raise damaged(path, what, e) from e

    def read_canaries(self) -> list[Canary]:
        """The run's canaries ([] without canaries.json); they hold secrets: never print them."""
        if not self.canaries_file.is_file():
            return []
        data = read_run_json(self.canaries_file, "the canary file")
        try:
            return canaries_from_json(data)
        except _DAMAGE as e:
            raise RunError(f"{self.canaries_file}: the canary file is damaged", hint=FIX) from e

    def read_comparison(self) -> dict[str, Any]:
        """comparison.json (`[dp] compare_without_dp`: the no-DP run's final metrics), or {}."""
        if not self.comparison_file.is_file():
            return {}
        return read_run_json(self.comparison_file, "the no-DP comparison")

    def read_deployment(self) -> dict[str, Any]:
        """deployment.json (`guard federate serve`: TLS, node authentication, insecure mode,
        registered node keys), or {} for a run that was not served (a simulation)."""
        path = self.path / "deployment.json"
        if not path.is_file():
            return {}
        return read_run_json(path, "the deployment record")

    def read_model_meta(self) -> dict[str, Any]:
        """model/guard_model.json, or {} when the run has no final model yet."""
        if not self.model_meta_file.is_file():
            return {}
        return read_run_json(self.model_meta_file, "the model description")

    # -- append-only logs ------------------------------------------------------
    def _jsonl_lines(self, path: Path) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        """(line number, text, row) of every complete line, and whether a torn last line was dropped."""
        what = path.name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise RunError(f"{path}: cannot read {what} ({type(e).__name__})") from e
        cut = raw.rfind(b"\n") + 1
        try:
            text = raw[:cut].decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise RunError(f"{path}:{line}: {what} is not UTF-8; was it edited?", hint=FIX) from e
        # a write cut short may end inside a multi-byte character: only the last line
        text += raw[cut:].decode("utf-8", errors="replace")
        lines = text.split("\n")
        complete, tail = lines[:-1], lines[-1]  # tail: what follows the last newline ("" when none)
        rows: list[tuple[int, str, dict[str, Any]]] = []
        for i, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise RunError(f"{path}:{i}: {what} line is not valid JSON ({e.msg}); was it edited?", hint=FIX) from e
            if not isinstance(row, dict) or not isinstance(row.get("round"), int):
                raise RunError(f"{path}:{i}: {what} line is not a row of a round", hint=FIX)
            rows.append((i, line, row))
        torn = False
        if tail.strip():
            try:
                row = json.loads(tail)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("round"), int):  # complete, only its newline is missing
                rows.append((len(complete) + 1, tail, row))
            else:
                torn = True
                log.warning("%s:%d: ignoring a torn last line (a write cut short)", path, len(complete) + 1)
        return rows, torn

    def read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        """Rows of metrics.jsonl or failures.jsonl ([] when absent). A torn last line is
        logged and ignored; damage anywhere else is a RunError naming file and line."""
        if not path.is_file():
            return []
        return [row for _, _, row in self._jsonl_lines(path)[0]]

    def read_metrics(self) -> list[dict[str, Any]]:
        """metrics.jsonl: one row per client per round and one aggregate row per round."""
        return self.read_jsonl(self.metrics_file)

    def read_failures(self) -> list[dict[str, Any]]:
        """failures.jsonl: the clients that raised, per round."""
        return self.read_jsonl(self.failures_file)


__all__ = [
    "CANARY_TEMPLATE",
    "CHECKPOINTS",
    "Canary",
    "ClientInfo",
    "ClientsFile",
    "CorpusPersons",
    "RunReader",
    "RunState",
    "canaries_from_json",
    "canaries_to_json",
    "damaged",
    "partition_summary",
    "read_run_json",
]
