"""Load what the fairness and explanation audits look at: a model and its data.

Models (never an arbitrary pickle):

- a `guard federate` run directory (`RUN_DIR/model`, data = the run's holdout);
- a saved guard model folder (`guard_model.json` beside a Hugging Face layout or a PEFT
  adapter, as `federated.models.save_model` writes, or the layout before it);
- a local Hugging Face sequence-classification checkpoint folder (`config.json`);
- a scikit-learn estimator saved with skops (`.skops`), loaded only when every type
  in it is on guard's allow-list (`audits._trust`: no callables), unless the caller
  passes `trust_model=True` (`--trust-model`), which the findings' subject records;
- a torch tabular MLP in safetensors (`.safetensors`) whose header metadata key
  `guard_tabular` holds `{"layers": [n_in, h1, ..., n_out], "features": [...],
  "classes": [...], "activation": "relu"}` (optional tensors `mean`/`std`
  standardise the inputs); `save_tabular_mlp` writes one.

Data: the run's holdout records (reloaded from its config.json, sensitive
columns read from the corpus records by line), or a data file (JSONL, CSV,
Parquet) with a text field or feature columns, a label field and the
sensitive fields. Every bad record fails with an InputError naming the file,
the line and the field. A damaged model file given by the user is an InputError
(exit 10), a damaged run file a RunError (exit 30), a refused model file an
UntrustedModelError (exit 31); a model that cannot be used is an AuditError.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audits._trust import PICKLE_SUFFIXES, check_guard_model, check_hf_checkpoint, json_object, load_skops
from audits.findings import AuditError
from guard.core.errors import GuardError, InputError, UntrustedModelError

logger = logging.getLogger(__name__)

ModelKind = Literal["text", "tabular"]
TABULAR_META = "guard_tabular"


@dataclass(frozen=True)
class AuditModel:
    """A classifier the audits can score: `predict_proba(inputs) -> (n, k)` over `classes`.

    Text models take a sequence of strings and expose `bundle` (a federated
    ModelBundle: `.model(input_ids, attention_mask) -> logits`, `.tokenizer`) and
    `max_length`; tabular models take a 2-D float array in `feature_names` order.
    """

    kind: ModelKind
    classes: tuple[str, ...]
    subject: dict[str, Any]
    predict_proba: Callable[[Any], np.ndarray] = field(repr=False)
    bundle: Any = field(default=None, repr=False)
    max_length: int = 128
    feature_names: tuple[str, ...] = ()
    run_dir: Path | None = None


@dataclass(frozen=True)
class AuditData:
    """Records to audit. `y` holds class indices into the model's classes; `lines`
    the 1-based source line (or Parquet row) of each record; `sensitive` one
    string column per sensitive feature. Text is kept out of `repr`."""

    source: str
    lines: np.ndarray
    y: np.ndarray
    sensitive: Any  # pandas.DataFrame
    texts: tuple[str, ...] | None = field(default=None, repr=False)
    features: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.y)

    def inputs(self) -> Any:
        return self.texts if self.texts is not None else self.features

    def subset(self, index: np.ndarray) -> AuditData:
        index = np.asarray(index)
        return AuditData(
            source=self.source,
            lines=self.lines[index],
            y=self.y[index],
            sensitive=self.sensitive.iloc[index].reset_index(drop=True),
            texts=None if self.texts is None else tuple(self.texts[i] for i in index),
            features=None if self.features is None else self.features[index],
        )


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` torch intra-op threads (None: leave torch's setting), restored afterwards.
    On a small shared machine one thread can be several times faster for small models."""
    if n is None:
        yield
        return
    if n < 1:
        raise AuditError(f"threads must be at least 1 (got {n})")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- models ---------------------------------------------------------------------------------------


def _text_predictor(bundle: Any, max_length: int, batch_size: int = 64) -> Callable[[Sequence[str]], np.ndarray]:
    import torch

    from federated.models import encode

    def predict(texts: Sequence[str]) -> np.ndarray:
        out = []
        bundle.model.eval()
        device = next(bundle.model.parameters()).device  # wherever the model is (a bundle trained on cuda stays there)
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                enc = encode(bundle, list(texts[start : start + batch_size]), max_length)
                logits = bundle.model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
                out.append(torch.softmax(logits.float(), -1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, bundle.num_labels or 0))

    return predict


def _text_model(bundle: Any, *, subject: dict[str, Any], max_length: int, run_dir: Path | None) -> AuditModel:
    if str(getattr(bundle.task, "value", bundle.task)) != "classification":
        raise AuditError(f"{subject['path']}: the fairness and explanation audits need a classifier, not a causal LM")
    classes = tuple(str(x) for x in (bundle.label_names or range(bundle.num_labels or 0)))
    if len(classes) < 2:
        raise AuditError(f"{subject['path']}: the model has {len(classes)} class(es); a classifier needs at least 2")
    return AuditModel(
        kind="text",
        classes=classes,
        subject=subject,
        predict_proba=_text_predictor(bundle, max_length),
        bundle=bundle,
        max_length=max_length,
        run_dir=run_dir,
    )


# -- the one loader of model folders (the privacy audit's targets use it too) ----------------------


@contextmanager
def _loading(path: Path) -> Iterator[None]:
    """A model that cannot be built is an AuditError; a damaged file the user gave, an InputError."""
    from federated.config import ConfigError

    try:
        yield
    except (ConfigError, ValueError) as e:
        raise AuditError(f"{path}: cannot load the model ({e})") from e
    except GuardError:
        raise
    except Exception as e:  # safetensors, tokenizers and torch raise their own types for a damaged file
        raise InputError(f"the model is damaged ({type(e).__name__}: {e})", path=str(path)) from e


def load_guard_model_dir(path: Path) -> Any:
    """A folder `federated.models.save_model` wrote (guard_model.json + safetensors, any layout), checked by
    `audits._trust.check_guard_model` first (no pickles, no code); a federated ModelBundle."""
    from federated.models import load_model

    check_guard_model(path)
    with _loading(path):
        return load_model(path)


def load_hf_checkpoint(path: Path, *, task: str) -> Any:
    """A local Hugging Face checkpoint folder (config.json + safetensors) as a federated
    ModelBundle for `task` ("classification": class names from id2label); checked by
    `audits._trust.check_hf_checkpoint` first (safetensors only, no remote code: the
    model is built with trust_remote_code=False)."""
    from federated.config import ModelConfig, Task
    from federated.models import build_model

    hf_config = json_object(path / "config.json")  # InputError naming the file when it is damaged
    check_hf_checkpoint(path)
    with _loading(path):
        task = Task(task)
        names: list[str] | None = None
        num_labels: int | None = None
        if task is Task.classification:
            id2label = hf_config.get("id2label") or {}
            names = [str(id2label[k]) for k in sorted(id2label, key=int)] or None
            num_labels = len(names) if names else int(hf_config.get("num_labels") or 2)
        bundle = build_model(ModelConfig("hf", {"path": str(path)}), task=task, num_labels=num_labels, seed=0)
    bundle.label_names = names
    bundle.model.eval()
    return bundle


def _guard_model_dir(path: Path, *, max_length: int) -> AuditModel:
    bundle = load_guard_model_dir(path)
    subject = {"path": str(path), "model": bundle.name, "kind": "guard_model"}
    return _text_model(bundle, subject=subject, max_length=max_length, run_dir=None)


def _run_model(path: Path, *, max_length: int | None) -> AuditModel:
    from audits._run import load_run_model, open_run, run_config, run_content_hash

    run = open_run(path)
    config = run_config(run)
    bundle = load_run_model(run)
    subject = {
        "path": str(path),
        "model": bundle.name,
        "kind": "run_dir",
        "config_hash": config.config_hash(),
        "run_hash": run_content_hash(path),
    }
    return _text_model(bundle, subject=subject, max_length=max_length or config.data.max_length, run_dir=path)


def _hf_dir(path: Path, *, max_length: int) -> AuditModel:
    bundle = load_hf_checkpoint(path, task="classification")
    subject = {"path": str(path), "model": "hf", "kind": "hf_checkpoint"}
    return _text_model(bundle, subject=subject, max_length=max_length, run_dir=None)


def _skops_model(path: Path, *, trust_model: bool) -> AuditModel:
    try:
        import skops.io  # noqa: F401
    except ImportError as e:  # pragma: no cover - declared dependency
        from guard.core.errors import DependencyError

        raise DependencyError("loading a scikit-learn model needs skops", hint="pip install skops") from e
    estimator, contents = load_skops(path, trust_model=trust_model)
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        raise AuditError(
            f"{path}: {type(estimator).__name__} has no predict_proba/classes_ (is it a fitted classifier?)"
        )
    names = tuple(str(x) for x in getattr(estimator, "feature_names_in_", ()))
    classes = tuple(str(x) for x in estimator.classes_)

    def predict(x: np.ndarray) -> np.ndarray:
        if names:
            import pandas as pd

            x = pd.DataFrame(np.asarray(x, dtype=float), columns=list(names))
        return np.asarray(estimator.predict_proba(x), dtype=float)

    subject = {
        "path": str(path),
        "model": type(estimator).__name__,
        "kind": "skops",
        # what the report shows: whether guard's allow-list was lifted, and for which types
        "model_trust": {"trusted_by_user": bool(trust_model), "outside_allow_list": list(contents.refused)},
    }
    return AuditModel(kind="tabular", classes=classes, subject=subject, predict_proba=predict, feature_names=names)


def save_tabular_mlp(
    model: Any, path: str | Path, *, features: Sequence[str], classes: Sequence[str], mean: Any = None, std: Any = None
) -> Path:
    """Save an `nn.Sequential` of Linear/ReLU layers as a guard tabular safetensors file."""
    import torch
    from safetensors.torch import save_file

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    layers = [linears[0].in_features] + [m.out_features for m in linears]
    tensors = {}
    for i, m in enumerate(linears):
        tensors[f"layers.{i}.weight"] = m.weight.detach().contiguous().clone()
        tensors[f"layers.{i}.bias"] = m.bias.detach().contiguous().clone()
    if mean is not None:
        tensors["mean"] = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        tensors["std"] = torch.as_tensor(np.asarray(std, dtype=np.float32))
    meta = {"layers": layers, "features": list(features), "classes": [str(c) for c in classes], "activation": "relu"}
    save_file(tensors, str(path), metadata={TABULAR_META: json.dumps(meta)})
    return Path(path)


def _safetensors_mlp(path: Path) -> AuditModel:
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta_raw = (fh.metadata() or {}).get(TABULAR_META)
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as e:
        raise InputError(f"not a readable safetensors file ({type(e).__name__}: {e})", path=str(path)) from e
    if meta_raw is None:
        raise AuditError(
            f"{path}: safetensors metadata has no {TABULAR_META!r} entry (layers, features, classes); "
            "save the model with audits._models.save_tabular_mlp"
        )
    try:
        meta = json.loads(meta_raw)
        layers = [int(x) for x in meta["layers"]]
        features = tuple(str(x) for x in meta["features"])
        classes = tuple(str(x) for x in meta["classes"])
        modules: list[torch.nn.Module] = []
        for i in range(len(layers) - 1):
            lin = torch.nn.Linear(layers[i], layers[i + 1])
            lin.load_state_dict({"weight": tensors[f"layers.{i}.weight"], "bias": tensors[f"layers.{i}.bias"]})
            modules.append(lin)
            if i < len(layers) - 2:
                modules.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*modules).eval()
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise InputError(
            f"the tabular model does not match its metadata ({type(e).__name__}: {e})", path=str(path)
        ) from e
    if layers[0] != len(features) or layers[-1] != len(classes):
        raise AuditError(f"{path}: layers {layers} do not fit {len(features)} features and {len(classes)} classes")
    mean = tensors.get("mean")
    std = tensors.get("std")

    def predict(x: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if mean is not None and std is not None:
            t = (t - mean) / std.clamp(min=1e-12)
        with torch.no_grad():
            return torch.softmax(net(t), -1).numpy().astype(float)

    subject = {"path": str(path), "model": "torch-mlp", "kind": "safetensors"}
    return AuditModel(kind="tabular", classes=classes, subject=subject, predict_proba=predict, feature_names=features)


def load_audit_model(path: str | Path, *, max_length: int | None = None, trust_model: bool = False) -> AuditModel:
    """Load a model for the audits from a run directory, a guard model folder, a local
    HF checkpoint, a `.skops` file or a guard tabular `.safetensors` file.

    `trust_model` lifts the skops allow-list (never the pickle or remote-code refusals)."""
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{path}: no such model file or run directory")
    if path.is_dir():
        if (path / "config.json").is_file() and (path / "model").is_dir():
            return _run_model(path, max_length=max_length)
        if (path / "guard_model.json").is_file():
            return _guard_model_dir(path, max_length=max_length or 128)
        if (path / "config.json").is_file():
            return _hf_dir(path, max_length=max_length or 128)
        raise AuditError(
            f"{path}: not a guard run directory (config.json + model/), a guard model (guard_model.json) "
            "or a Hugging Face checkpoint (config.json)"
        )
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return _skops_model(path, trust_model=trust_model)
    if suffix == ".safetensors":
        return _safetensors_mlp(path)
    if suffix in PICKLE_SUFFIXES:
        raise UntrustedModelError(
            f"{path}: refused: guard never loads pickles (they can run arbitrary code); save a scikit-learn model "
            "with skops (skops.io.dump) or a torch MLP as safetensors (audits._models.save_tabular_mlp)"
        )
    raise AuditError(f"{path}: unknown model format {suffix!r}; expected a run directory, .skops or .safetensors")


# -- data -----------------------------------------------------------------------------------------


def _group_value(value: Any, *, path: str, line: int, name: str) -> str:
    if (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    ):
        raise InputError(
            "the sensitive feature is missing or empty",
            path=path,
            line=line,
            field=name,
            hint="every audited record needs a value for each --sensitive feature",
        )
    if isinstance(value, (dict, list)):
        raise InputError(f"the sensitive feature is a {type(value).__name__}", path=path, line=line, field=name)
    return str(value)


def _label_index(value: Any, classes: tuple[str, ...], *, path: str, line: int, name: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError("the label is missing or empty", path=path, line=line, field=name)
    text = str(value).strip()
    if text not in classes:
        if isinstance(value, float) and value.is_integer() and str(int(value)) in classes:
            return classes.index(str(int(value)))
        raise InputError(
            "the label is not one of the model's classes",
            path=path,
            line=line,
            field=name,
            hint=f"the model's classes: {list(classes)}",
        )
    return classes.index(text)


def _frame(columns: dict[str, list[str]], n: int) -> Any:
    """The sensitive columns as a frame of n rows (n rows and no column when none was asked for,
    so that sub-sampling by row still works)."""
    import pandas as pd

    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()}, index=pd.RangeIndex(n))


def _read_corpus(path: str | Path, fmt: str | None = None) -> tuple[list[int], list[dict[str, Any]]]:
    from guard.core.io import CorpusReader
    from guard.core.types import RecordError

    lines, rows = [], []
    for item in CorpusReader(path, fmt=fmt):
        if isinstance(item, RecordError):
            raise InputError(item.reason, path=str(path), line=item.line, field=item.field)
        lines.append(item.line)
        rows.append(item.data)
    return lines, rows


def run_holdout(
    model: AuditModel, *, sensitive: Sequence[str], max_records: int | None = None, seed: int = 0
) -> AuditData:
    """The holdout records of the run `model` came from, with sensitive columns from the corpus."""
    if model.run_dir is None:
        raise AuditError(f"{model.subject['path']}: not a run directory; pass a data file")
    from audits._run import open_run, run_config
    from federated.data import load_federated_dataset

    config = run_config(open_run(model.run_dir))
    if config.data.task.value != "classification":
        raise AuditError(f"{model.run_dir}: the run trained a causal LM; these audits need a classifier")
    dataset = load_federated_dataset(config.data, seed=config.train.seed)
    if tuple(dataset.labels) != model.classes:
        raise AuditError(
            f"{model.run_dir}: the corpus labels {list(dataset.labels)} do not match the model's classes "
            f"{list(model.classes)} (was the corpus changed after training?)"
        )
    examples = sorted((e for c in dataset.clients for e in c.holdout), key=lambda e: e.line)
    source = str(config.data.path)
    lines, rows = _read_corpus(source, config.data.format)
    by_line = dict(zip(lines, rows))
    columns: dict[str, list[str]] = {name: [] for name in sensitive}
    for e in examples:
        record = by_line[e.line]
        for name in sensitive:
            if name not in record:
                raise InputError(
                    "the record has no such field",
                    path=source,
                    line=e.line,
                    field=name,
                    hint=f"fields: {sorted(record)}",
                )
            columns[name].append(_group_value(record[name], path=source, line=e.line, name=name))
    data = AuditData(
        source=source,
        lines=np.array([e.line for e in examples], dtype=int),
        y=np.array([int(e.label) for e in examples], dtype=int),  # type: ignore[arg-type]
        sensitive=_frame(columns, len(examples)),
        texts=tuple(e.text for e in examples),
    )
    return _limit(data, max_records, seed)


def _limit(data: AuditData, max_records: int | None, seed: int) -> AuditData:
    if max_records is None or len(data) <= max_records:
        return data
    index = np.sort(np.random.default_rng([seed, 7]).choice(len(data), size=max_records, replace=False))
    return data.subset(index)


def read_audit_data(
    path: str | Path,
    model: AuditModel,
    *,
    label_field: str,
    sensitive: Sequence[str],
    text_field: str = "text",
    features: Sequence[str] | None = None,
    fmt: str | None = None,
    max_records: int | None = None,
    seed: int = 0,
) -> AuditData:
    """Read a data file for `model`: text (text models) or feature columns (tabular models),
    labels mapped onto the model's classes, sensitive features as strings."""
    path = Path(path)
    source = str(path)
    lines, rows = _read_corpus(path, fmt)
    feature_names = list(features or model.feature_names)
    if model.kind == "tabular" and not feature_names:
        raise AuditError(f"{model.subject['path']}: the model does not name its features; pass --feature for each")
    needed = [label_field, *sensitive] + ([text_field] if model.kind == "text" else feature_names)
    columns: dict[str, list[str]] = {name: [] for name in sensitive}
    y, texts, matrix = [], [], []
    for line, record in zip(lines, rows):
        for name in needed:
            if name not in record:
                raise InputError(
                    "the record has no such field",
                    path=source,
                    line=line,
                    field=name,
                    hint=f"fields: {sorted(record)[:20]}",
                )
        y.append(_label_index(record[label_field], model.classes, path=source, line=line, name=label_field))
        for name in sensitive:
            columns[name].append(_group_value(record[name], path=source, line=line, name=name))
        if model.kind == "text":
            text = record[text_field]
            if not isinstance(text, str) or not text.strip():
                raise InputError(
                    "the text field is missing, empty or not a string", path=source, line=line, field=text_field
                )
            texts.append(text)
        else:
            row = []
            for name in feature_names:
                try:
                    value = float(record[name])
                except (TypeError, ValueError):
                    raise InputError("the feature is not a number", path=source, line=line, field=name) from None
                if not np.isfinite(value):
                    raise InputError("the feature is not a finite number", path=source, line=line, field=name)
                row.append(value)
            matrix.append(row)
    data = AuditData(
        source=source,
        lines=np.array(lines, dtype=int),
        y=np.array(y, dtype=int),
        sensitive=_frame(columns, len(lines)),
        texts=tuple(texts) if model.kind == "text" else None,
        features=np.array(matrix, dtype=float) if model.kind == "tabular" else None,
    )
    return _limit(data, max_records, seed)


def load_for_audit(
    model: str | Path,
    *,
    data: str | Path | None,
    sensitive: Sequence[str],
    label_field: str | None,
    text_field: str = "text",
    features: Sequence[str] | None = None,
    max_length: int | None = None,
    max_records: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
) -> tuple[AuditModel, AuditData]:
    """The model and the records to audit it on (a run's holdout when `data` is None)."""
    loaded = load_audit_model(model, max_length=max_length, trust_model=trust_model)
    if data is None:
        if loaded.run_dir is None:
            raise AuditError(f"{model}: pass a data file (--data); only a run directory brings its own holdout")
        return loaded, run_holdout(loaded, sensitive=sensitive, max_records=max_records, seed=seed)
    if label_field is None:
        if loaded.run_dir is not None:
            from audits._run import open_run, run_config

            run_data = run_config(open_run(loaded.run_dir)).data
            label_field = run_data.label_field or "label"
            text_field = run_data.text_field
        else:
            label_field = "label"
    return loaded, read_audit_data(
        data,
        loaded,
        label_field=label_field,
        sensitive=sensitive,
        text_field=text_field,
        features=features,
        max_records=max_records,
        seed=seed,
    )


def load_scored(model: str | Path, **load: Any) -> tuple[AuditModel, AuditData, np.ndarray]:
    """`load_for_audit`, then the model's class probabilities on the records ((n, k) floats)."""
    loaded, records = load_for_audit(model, **load)
    return loaded, records, np.asarray(loaded.predict_proba(records.inputs()), dtype=float)


def audit_subject(loaded: AuditModel, records: AuditData, sensitive: Sequence[str], **more: Any) -> dict[str, Any]:
    """What a model audit was about: the model's subject, the records it read, then `more`."""
    return {
        **loaded.subject,
        "data": records.source,
        "records": len(records),
        "sensitive": list(sensitive),
        "classes": list(loaded.classes),
        **more,
    }


__all__ = [
    "AuditData",
    "AuditModel",
    "audit_subject",
    "load_audit_model",
    "load_for_audit",
    "load_scored",
    "read_audit_data",
    "run_holdout",
    "save_tabular_mlp",
    "torch_threads",
]
