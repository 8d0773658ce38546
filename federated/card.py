"""The model card of a `guard federate` run: `run/model/README.md`, a Hugging Face model
card (YAML front matter read by `huggingface_hub.ModelCard.load`, then Markdown).

    card = build_card(RunDir("runs/demo"), config)   # a ModelCardDoc: front matter + body
    write_card(run, config)                            # run/model/README.md, atomically

The front matter (`huggingface_hub.ModelCardData`): license and language from `[card]`,
library_name ("peft" for a LoRA adapter folder, else "transformers"), guard's tags plus
`[card] tags`, base_model (the model registry's pretrained model; none for models trained
from scratch), datasets by name, metrics, a model-index of `EvalResult`s (held-out
accuracy or perplexity, epsilon and delta; the corpus sha256 as the dataset revision)
and a `guard` block (config and corpus hashes, the privacy claim per client).

The body: intended use, out-of-scope use and limitations as `[card]` states them ("not
stated in the run config" when it does not: nothing is made up), the privacy statement
(the unit, record or person, and DP-SGD per client: epsilon, delta, accountant, clients,
rounds; with a person field the persons with several records, the group-privacy bound of
the largest group under record unit and persons shared by clients), the
training data and summary, and how to load the model. The release report's MODEL_CARD.md
is this card plus the audit results (`guard.release`).

The card holds counts, ids, hashes and config text only: it never reads the corpus or the
canary secrets. This module imports neither torch nor Flower (`guard check` reads runs
without them), and the body is built here rather than from a template file, because only
`*.py` files travel to a SuperLink in a Flower App bundle.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federated.types import FederateConfig, Task
from guard.core.io import write_text_atomic
from guard.core.ledger import RECORD, PrivacyLedger, vacuous
from guard.core.rundir import ClientsFile, RunReader, RunState
from guard.release.render import fmt  # the report's number format

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
NOT_STATED = "Not stated in the run config."
TAGS = ("guard", "differential-privacy", "dp-sgd", "federated-learning", "opacus", "flower")
# the pretrained model each registered model starts from (Hub ids); models trained from
# scratch (tiny-*) have none, and `hf` names the folder it was given
BASE_MODELS: Mapping[str, str] = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
}
PEFT_ADAPTER_FILE = "adapter_config.json"
HF_CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TaskInfo:
    """How the Hub names a guard task and its held-out metric."""

    pipeline_tag: str
    task_name: str
    metric: str  # key in the metrics log's evaluate row, without "eval_"
    metric_name: str
    auto_class: str


TASKS: Mapping[Task, TaskInfo] = {
    Task.classification: TaskInfo(
        "text-classification",
        "Text classification",
        "accuracy",
        "Held-out accuracy",
        "AutoModelForSequenceClassification",
    ),
    Task.causal_lm: TaskInfo(
        "text-generation", "Text generation", "perplexity", "Held-out perplexity", "AutoModelForCausalLM"
    ),
}


@dataclass(frozen=True)
class ModelCardDoc:
    """A model card: its front matter (as `ModelCardData.to_dict()` gives it, model-index
    included) and its Markdown body."""

    metadata: Mapping[str, Any]
    body: str

    def text(self, *, appendix: str = "") -> str:
        """The card's file content, `appendix` (Markdown) after the body. It is parsed back
        with `huggingface_hub.ModelCard` before it is returned, so what is written loads."""
        from huggingface_hub import ModelCard, ModelCardData

        front = ModelCardData(**dict(self.metadata)).to_yaml()
        body = self.body.rstrip("\n") + "\n"
        if appendix.strip():
            body += "\n" + appendix.strip("\n") + "\n"
        content = f"---\n{front}\n---\n\n{body}"
        ModelCard(content)  # raises ValueError if the front matter does not parse
        return content


# -- what the run says --------------------------------------------------------------------------------


def base_model_of(config: FederateConfig) -> str | None:
    """`[card] base_model`, else the registry's pretrained model, else (hf) the checkpoint folder's name."""
    if config.card.base_model:
        return config.card.base_model
    if config.model.name == "hf":
        path = config.model.params.get("path")
        return Path(str(path)).name if path else None
    return BASE_MODELS.get(config.model.name)


def library_of(model_dir: Path) -> str:
    """ "peft" when the model folder is a LoRA adapter (adapter_config.json), else "transformers"."""
    return "peft" if (model_dir / PEFT_ADAPTER_FILE).is_file() else "transformers"


def _model_type(model_dir: Path) -> str | None:
    from guard.core.files import read_json

    path = model_dir / HF_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = read_json(path, what="model config")
    except Exception:  # noqa: BLE001  (a damaged config.json only changes the loading hint)
        return None
    value = data.get("model_type") if isinstance(data, dict) else None
    return str(value) if value else None


def dataset_name_of(config: FederateConfig) -> str:
    if config.card.dataset_name:
        return config.card.dataset_name
    name = Path(config.data.path).name
    for suffix in (".gz", ".jsonl", ".json", ".csv", ".parquet", ".txt"):
        name = name.removesuffix(suffix)
    return name or "corpus"


def _final_evaluation(rows: Sequence[Mapping[str, Any]]) -> tuple[int | None, dict[str, float]]:
    """The last aggregate row's held-out metrics: (round, {name: value})."""
    for row in reversed(rows):
        if row.get("phase") == "aggregate":
            ev = row.get("evaluate") or {}
            out = {
                k.removeprefix("eval_"): float(v)
                for k, v in ev.items()
                if k.startswith("eval_") and isinstance(v, int | float) and not isinstance(v, bool)
            }
            return int(row.get("round", 0)), out
    return None, {}


def _privacy_json(
    ledger: PrivacyLedger | None, config: FederateConfig, rounds_done: int, clients_info: ClientsFile | None = None
) -> dict[str, Any]:
    if ledger is None or not ledger.dp_enabled:
        return {"dp": False, "mechanism": None, "statement": _statement(ledger)}
    persons = ledger.person_field is not None
    clients = [
        {
            "client": c.client_id,
            "records": c.records,
            "epsilon": c.epsilon,
            "delta": c.delta,
            "accountant": c.accountant,
            "noise_multiplier": c.history[-1].noise_multiplier if c.history else None,
            "steps": sum(h.steps for h in c.history),
            **({"persons": c.persons, "largest_person": c.largest_person} if persons else {}),
        }
        for c in ledger.clients
    ]
    unit = ledger.unit if ledger.clients else config.dp.unit
    out: dict[str, Any] = {
        "dp": True,
        "mechanism": ledger.mechanism,
        "unit": unit,
        "epsilon": ledger.max_epsilon if ledger.clients else None,
        "delta": max((c.delta for c in ledger.clients), default=None),
        "accountant": ", ".join(sorted({c.accountant for c in ledger.clients})) or str(config.dp.accountant),
        "max_grad_norm": config.dp.max_grad_norm,
        "clients": len(ledger.clients),
        "rounds": rounds_done,
        "per_client": clients,
        "statement": _statement(ledger),
    }
    if persons:
        out["person_field"] = ledger.person_field
        if clients_info is not None and clients_info.persons is not None:
            corpus = clients_info.persons
            out["corpus_persons"] = {"persons": corpus.persons, "persons_several": corpus.persons_several}
            out["corpus_persons"]["largest_person"] = corpus.largest_person
        bound = ledger.group_bound() if unit == RECORD else None
        if bound is not None:
            client, eps_k, delta_k = bound
            out["group_bound"] = {
                "client": client.client_id,
                "k": client.largest_person,
                "epsilon": eps_k,
                "delta": delta_k if math.isfinite(delta_k) else None,  # None: it overflowed (vacuous)
                "vacuous": vacuous(delta_k),
            }
        if ledger.shared_persons:
            out["shared_persons"] = [{"clients": list(s.clients), "persons": s.persons} for s in ledger.shared_persons]
    if ledger.user_level is not None:
        u = ledger.user_level
        out["user_level"] = {"epsilon": u.epsilon, "delta": u.delta, "clipping": u.clipping}
    return out


def _unit_words(unit: str) -> str:
    return "record-level" if unit == RECORD else f"person-level ({unit})"


def _statement(ledger: PrivacyLedger | None) -> str:
    if ledger is None:
        return "The run has no privacy ledger: no privacy guarantee is claimed."
    return ledger.statement()


def _segments(ledger: PrivacyLedger | None, clients_info: ClientsFile) -> list[dict[str, Any]]:
    """(from_round, corpus sha256) of each data segment the model was trained on."""
    if ledger is not None and ledger.segments:
        return [{"from_round": s.from_round, "corpus_sha256": s.corpus_sha256} for s in ledger.segments]
    return [
        {"from_round": int(s.get("from_round", 1)), "corpus_sha256": str(s.get("corpus_sha256", ""))}
        for s in clients_info.segments
    ]


# -- the card -----------------------------------------------------------------------------------------


def build_card(run: RunReader, config: FederateConfig) -> ModelCardDoc:
    """The model card of the run in `run` (read-only: the ledger, clients.json, the metrics
    log, state.json and run/model/), with `config` the run's config."""
    ledger = run.read_ledger()
    clients_info = run.read_clients()
    state = run.read_state()
    rows = run.read_metrics() if run.metrics_file.is_file() else []
    versions = run.read_config_payload().get("versions") or {}
    task = TASKS[Task(config.data.task)]
    card = config.card
    model_name = card.model_name or f"guard-{config.model.name}"
    dataset = dataset_name_of(config)
    base_model = base_model_of(config)
    library = library_of(run.model_dir)
    segments = _segments(ledger, clients_info)
    corpus_sha256 = segments[-1]["corpus_sha256"] if segments else state.corpus_sha256 or None
    eval_round, evaluation = _final_evaluation(rows)
    privacy = _privacy_json(ledger, config, state.last_round, clients_info)

    results = []
    common = {
        "task_type": task.pipeline_tag,
        "task_name": task.task_name,
        "dataset_type": dataset,
        "dataset_name": dataset,
        "dataset_split": "held-out",
        "dataset_revision": corpus_sha256,
    }
    claims = [
        (task.metric, task.metric_name, evaluation.get(task.metric), None),
        ("loss", "Held-out loss", evaluation.get("loss"), None),
    ]
    if privacy["dp"]:
        claims += [
            (
                "epsilon",
                f"DP epsilon ({_unit_words(privacy['unit'])}, largest over clients)",
                privacy["epsilon"],
                privacy["accountant"],
            ),
            ("delta", "DP delta (largest over clients)", privacy["delta"], None),
        ]
    without_dp = ((run.read_comparison().get("without_dp") or {}).get("evaluate") or {}).get(f"eval_{task.metric}")
    if privacy["dp"] and isinstance(without_dp, int | float):  # [dp] compare_without_dp
        claims.append((task.metric, f"{task.metric_name} without DP (same data, config and seed)", without_dp, None))
    for metric, name, value, metric_config in claims:
        if value is not None:
            extra = {"metric_config": metric_config} if metric_config else {}
            results.append({**common, "metric_type": metric, "metric_name": name, "metric_value": value, **extra})
    metadata = _front_matter(
        config, model_name, dataset, base_model, library, task, results, corpus_sha256, segments, privacy, versions
    )
    body = _body(
        config,
        model_name=model_name,
        dataset=dataset,
        base_model=base_model,
        library=library,
        model_type=_model_type(run.model_dir),
        task=task,
        clients_info=clients_info,
        state=state,
        rows=rows,
        eval_round=eval_round,
        evaluation=evaluation,
        privacy=privacy,
        segments=segments,
        versions=versions,
    )
    return ModelCardDoc(metadata=metadata, body=body)


def _front_matter(
    config: FederateConfig,
    model_name: str,
    dataset: str,
    base_model: str | None,
    library: str,
    task: TaskInfo,
    results: list[dict[str, Any]],
    corpus_sha256: str | None,
    segments: list[dict[str, Any]],
    privacy: dict[str, Any],
    versions: Mapping[str, Any],
) -> dict[str, Any]:
    from huggingface_hub import EvalResult, ModelCardData

    card = config.card
    tags = list(dict.fromkeys([*TAGS, *(["lora"] if library == "peft" else []), *card.tags]))
    metrics = [r["metric_type"] for r in results]
    guard_block = {
        "version": str(versions.get("guard", "")) or None,
        "model": config.model.name,
        "task": str(config.data.task),
        "config_sha256": config.config_hash(),
        "dataset": {"name": dataset, "sha256": corpus_sha256, "segments": segments},
        "privacy": {k: v for k, v in privacy.items() if k != "statement"},
    }
    data = ModelCardData(
        license=card.license,
        language=list(card.language) or None,
        library_name=library,
        tags=tags,
        base_model=base_model,
        datasets=[dataset],
        metrics=list(dict.fromkeys(metrics)) or None,
        pipeline_tag=task.pipeline_tag,
        model_name=model_name,
        eval_results=[EvalResult(**r) for r in results] or None,
        guard=guard_block,
    )
    return data.to_dict()


def _or_not_stated(text: str | None) -> str:
    return text.strip() if text and text.strip() else NOT_STATED


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _dp_words(config: FederateConfig) -> str:
    dp = config.dp
    if not dp.enabled:
        return "off"
    noise = (
        f"noise calibrated per client for target epsilon {fmt(dp.target_epsilon)}"
        if dp.target_epsilon is not None
        else f"fixed noise multiplier {fmt(dp.noise_multiplier)}"
    )
    return f"on, {noise}, clipping norm {fmt(dp.max_grad_norm)} ({dp.clipping} per-sample gradients)"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(v) if not isinstance(v, str) else v for v in row) + " |" for row in rows]
    return out


def _body(
    config: FederateConfig,
    *,
    model_name: str,
    dataset: str,
    base_model: str | None,
    library: str,
    model_type: str | None,
    task: TaskInfo,
    clients_info: ClientsFile,
    state: RunState,
    rows: Sequence[Mapping[str, Any]],
    eval_round: int | None,
    evaluation: Mapping[str, float],
    privacy: Mapping[str, Any],
    segments: Sequence[Mapping[str, Any]],
    versions: Mapping[str, Any],
) -> str:
    card = config.card
    labels = list(clients_info.labels)
    lines = [f"# {model_name}", ""]
    what = "text classifier" if config.data.task is Task.classification else "causal language model"
    how = f"fine-tuned from `{base_model}`" if base_model else "trained from scratch"
    dp_words = (
        f"with {_unit_words(privacy['unit'])} differential privacy (DP-SGD on every client)"
        if privacy["dp"]
        else "without DP"
    )
    lines += [
        f"A {what} (`{config.model.name}`), {how} by federated learning {dp_words}, made with guard "
        f"{versions.get('guard', '')}.".replace(" .", "."),
        "",
        "## Model details",
        "",
        f"- Architecture: `{config.model.name}` ({task.task_name.lower()})"
        + (f" over {len(labels)} labels: {', '.join(labels)}." if labels else "."),
        f"- Base model: {f'`{base_model}`' if base_model else 'none (trained from scratch)'}.",
        f"- Library: {library}"
        + (" (a LoRA adapter: the base model's weights are not in this folder)." if library == "peft" else "."),
        f"- License: {card.license or NOT_STATED.lower().rstrip('.')}.",
        f"- Language: {', '.join(card.language) if card.language else NOT_STATED.lower().rstrip('.')}.",
        f"- Config sha256: `{config.config_hash()}`.",
        "",
        "## Intended use",
        "",
        _or_not_stated(card.intended_use),
        "",
        "## Out-of-scope use",
        "",
        _or_not_stated(card.out_of_scope_use),
        "",
        "## Limitations",
        "",
        _or_not_stated(card.limitations),
        "",
    ]
    holdout = sum(c.holdout for c in clients_info.clients)
    lines += _privacy_lines(privacy)
    lines += _data_lines(config, dataset, clients_info, segments)
    lines += _training_lines(config, task, state, rows, versions, eval_round, evaluation, holdout)
    lines += ["", *_how_to_load(task, library, base_model, model_type), ""]
    return "\n".join(lines)


def _privacy_lines(privacy: Mapping[str, Any]) -> list[str]:
    lines = ["## Privacy", "", str(privacy["statement"]), ""]
    if privacy["dp"]:
        unit = privacy["unit"]
        person = privacy.get("person_field")
        if unit == RECORD:
            what = (
                f"Record-level DP-SGD (Opacus) on each client: {_count(privacy['clients'], 'client')}, "
                f"{_count(privacy['rounds'], 'round')}, per-sample gradients clipped to norm "
                f"{fmt(privacy['max_grad_norm'])}, "
                f"{privacy['accountant']} accountant. Epsilon {fmt(privacy['epsilon'])} and delta "
                f"{fmt(privacy['delta'])} are the largest over the clients; a record is protected by its own "
                "client's guarantee. A person with several records is protected per record, not as a person."
            )
        else:
            what = (
                f"Person-level DP-SGD (Opacus per-record gradients, summed and clipped per {unit}) on each client: "
                f"{_count(privacy['clients'], 'client')}, {_count(privacy['rounds'], 'round')}, per-person "
                f"gradients clipped to norm {fmt(privacy['max_grad_norm'])}, {privacy['accountant']} accountant. "
                f"Epsilon {fmt(privacy['epsilon'])} and delta {fmt(privacy['delta'])} are the largest over the "
                f"clients; each {unit} is protected by the guarantee of the client it trained on (composed across "
                "clients for one that trained on several)."
            )
        lines += [what, ""]
        lines += _person_lines(privacy, person) if person else []
        header = ("client", "records", "epsilon", "delta", "accountant", "noise multiplier", "steps")
        keys = ["client", "records", "epsilon", "delta", "accountant", "noise_multiplier", "steps"]
        if person:
            header += ("persons", "most records of one person")
            keys += ["persons", "largest_person"]
        lines += [*_table(header, [tuple(c.get(k) for k in keys) for c in privacy["per_client"]]), ""]
        if "user_level" in privacy:
            u = privacy["user_level"]
            lines += [
                f"User-level (client-level) DP on the server: epsilon {fmt(u['epsilon'])}, delta "
                f"{fmt(u['delta'])} ({u['clipping']} clipping).",
                "",
            ]
        else:
            lines += ["No user-level (client-level) DP: a client's whole contribution is not protected as a unit.", ""]
    return lines


def _person_lines(privacy: Mapping[str, Any], person: str) -> list[str]:
    """The unit in words for a run with a person field: persons with several records, the
    group-privacy bound under record unit, persons on several clients."""
    lines = []
    corpus = privacy.get("corpus_persons")
    if corpus:
        lines.append(
            f"- {corpus['persons_several']:,} of {corpus['persons']:,} {person} values in the corpus have several "
            f"records (at most {corpus['largest_person']:,})."
        )
    bound = privacy.get("group_bound")
    if bound:
        delta = "overflowing" if bound["delta"] is None else fmt(bound["delta"])
        lines.append(
            f"- Group-privacy bound for the largest group, {bound['k']} records of one {person} on "
            f"{bound['client']}: epsilon {fmt(bound['epsilon'])}, delta {delta}"
            + (" (vacuous: the delta is not below 1)" if bound["vacuous"] else "")
            + f", beside the per-record epsilon {fmt(privacy['epsilon'])} (Dwork & Roth 2014, Theorem 2.2: "
            "k * epsilon, k * exp((k - 1) * epsilon) * delta)."
        )
    for shared in privacy.get("shared_persons") or ():
        a, b = shared["clients"]
        lines.append(
            f"- {shared['persons']:,} {person} value(s) trained on both {a} and {b}: their guarantee composes "
            "across the two clients."
        )
    return [*lines, ""] if lines else []


def _data_lines(
    config: FederateConfig, dataset: str, clients_info: ClientsFile, segments: Sequence[Mapping[str, Any]]
) -> list[str]:
    lines = ["## Training data", ""]
    lines += [
        f"- Dataset: {dataset}; corpus sha256 "
        + "; ".join(f"`{s['corpus_sha256']}` (from round {s['from_round']})" for s in segments)
        + "."
        if segments
        else f"- Dataset: {dataset}; no data fingerprint recorded."
    ]
    train = sum(c.train for c in clients_info.clients)
    holdout = sum(c.holdout for c in clients_info.clients)
    canaries = sum(c.canary_examples for c in clients_info.clients)
    part = f"{config.data.partition}" + (f" by {config.data.partition_field}" if config.data.partition_field else "")
    if config.silos.enabled:
        part = "silos: each node trained on its own file, which the server never saw"
    lines += [
        f"- {len(clients_info.clients)} clients ({part}): {train:,} training and {holdout:,} held-out records.",
    ]
    if canaries:
        lines.append(f"- {canaries:,} canary examples (random secrets inserted to audit memorization) in training.")
    if clients_info.persons is not None:
        p = clients_info.persons
        lines.append(
            f"- {p.persons:,} persons by `{p.field}` ({p.persons_several:,} with several records); each client's "
            "held-out split holds whole persons."
        )
    per_client = [(c.client_id, c.train, c.holdout) for c in clients_info.clients]
    lines += ["", *_table(("client", "training records", "held-out records"), per_client), ""]
    return lines


def _training_lines(
    config: FederateConfig,
    task: TaskInfo,
    state: RunState,
    rows: Sequence[Mapping[str, Any]],
    versions: Mapping[str, Any],
    eval_round: int | None,
    evaluation: Mapping[str, float],
    holdout: int,
) -> list[str]:
    t = config.train
    lines = [
        "## Training",
        "",
        f"- Federated strategy `{config.strategy.name}`, {state.last_round} of {_count(t.rounds, 'round')}, "
        f"{_count(t.local_epochs, 'local epoch')} per round.",
        f"- Optimizer {t.optimizer}, learning rate {fmt(t.lr)}, batch size {t.batch_size}, seed {t.seed}.",
        f"- DP-SGD: {_dp_words(config)}.",
        "- Library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."
        if versions
        else "- Library versions: not recorded.",
        "",
    ]
    rounds = [r for r in rows if r.get("phase") == "aggregate"]
    if rounds:
        lines += [
            *_table(
                ("round", task.metric_name.lower(), "held-out loss", "largest epsilon"),
                [
                    (
                        r.get("round"),
                        (r.get("evaluate") or {}).get(f"eval_{task.metric}"),
                        (r.get("evaluate") or {}).get("eval_loss"),
                        (r.get("train") or {}).get("epsilon_max"),
                    )
                    for r in rounds
                ],
            ),
            "",
        ]
    lines += ["## Evaluation", ""]
    if task.metric in evaluation:
        lines.append(
            f"{task.metric_name} after round {eval_round}: {fmt(evaluation[task.metric])} "
            f"(loss {fmt(evaluation.get('loss'))}) on {holdout:,} held-out records of the clients."
        )
    else:
        lines.append("No held-out evaluation was recorded.")
    return lines


def _how_to_load(task: TaskInfo, library: str, base_model: str | None, model_type: str | None) -> list[str]:
    lines = ["## How to load", "", "```python"]
    if library == "peft":
        lines += [
            "from peft import PeftModel",
            f"from transformers import {task.auto_class}, AutoTokenizer",
            "",
            f'base = {task.auto_class}.from_pretrained("{base_model or "BASE_MODEL"}")',
            'model = PeftModel.from_pretrained(base, "path/to/model")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/model")',
        ]
    else:
        if model_type is None or model_type.startswith("guard"):
            lines += ["import federated.models  # registers guard's own architectures with the Auto classes"]
        lines += [
            f"from transformers import {task.auto_class}, AutoTokenizer",
            "",
            f'model = {task.auto_class}.from_pretrained("path/to/model")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/model")',
        ]
    lines += [
        "```",
        "",
        'Or with guard: `federated.models.load_model("path/to/model")` (any layout guard wrote). '
        "Nothing in the folder is code: weights are safetensors, the rest JSON.",
    ]
    return lines


def write_card(run: RunReader, config: FederateConfig) -> Path:
    """Write the run's model card as run/model/README.md (atomically); returns its path."""
    path = run.model_dir / CARD_FILE
    write_text_atomic(path, build_card(run, config).text())
    log.info("model card written: %s", path)
    return path


__all__ = [
    "BASE_MODELS",
    "CARD_FILE",
    "NOT_STATED",
    "TAGS",
    "ModelCardDoc",
    "base_model_of",
    "build_card",
    "write_card",
]
