"""What guard agrees to load as a model: nothing that can run code on this machine.

- scikit-learn models come as skops files. Before skops builds anything, every type
  the file names (read from its schema, not from skops's own default trust) must be
  on `SKOPS_ALLOWED`: the estimators and transformers guard supports and the plain
  numpy/scipy/builtins types they are made of. Callables (functions, partials,
  methods, `operator` getters, e.g. in a FunctionTransformer) are never on it. Only
  `trust_model=True` (`--trust-model`) lifts this, and the findings record it.
- Hugging Face folders: safetensors weights only (no `pytorch_model.bin` or other
  pickle beside them) and no custom code (`auto_map`, `*.py`): guard never sets
  `trust_remote_code`. `--trust-model` does not lift this.
- guard's own model folders hold safetensors. In the Hugging Face layout (config.json
  or a PEFT adapter at the root) they are checked like a Hugging Face folder; in the
  layout before it, one that points at a Hugging Face folder (model "hf") has that
  folder checked as above.

A refusal is an UntrustedModelError (exit 31) that names the types or files; nothing
is loaded or written.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guard.core.errors import InputError, UntrustedModelError

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt"})

# -- skops -------------------------------------------------------------------------------------------

# skops loaders that turn a name into a callable (function, partial, bound method, operator getter)
_CALLABLE_LOADERS = frozenset({"FunctionNode", "PartialNode", "MethodNode", "OperatorFuncNode"})
# loaders that build data, containers, estimators and their fitted state
_DATA_LOADERS = frozenset(
    {
        "CachedNode",
        "ConstructorFromReduceNode",
        "DTypeNode",
        "DefaultDictNode",
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "RandomStateNode",
        "ReduceNode",
        "SetNode",
        "SliceNode",
        "SparseMatrixNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
        "_DictWithDeprecatedKeysNode",
    }
)

_BUILTINS = ("bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "object")
_BUILTINS += ("set", "slice", "str", "tuple", "NoneType")
_NUMPY_SCALARS = (
    "bool",
    "bool_",
    "bytes_",
    "complex64",
    "complex128",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "intc",
    "intp",
    "longlong",
    "object_",
    "str_",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uintp",
)
# types that may appear as a type reference (TypeNode), e.g. an encoder's dtype=np.float64
SKOPS_TYPE_REFERENCES = frozenset(
    [f"builtins.{t}" for t in _BUILTINS] + [f"numpy.{t}" for t in _NUMPY_SCALARS] + ["numpy.ndarray"]
)

_SKLEARN = {
    # linear models
    "linear_model._logistic": ("LogisticRegression", "LogisticRegressionCV"),
    "linear_model._stochastic_gradient": ("SGDClassifier",),
    "linear_model._ridge": ("RidgeClassifier", "RidgeClassifierCV"),
    "linear_model._sgd_fast": ("Hinge", "ModifiedHuber", "SquaredHinge", "Log"),
    # trees and ensembles, gradient boosting included
    "tree._classes": ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"),
    "tree._tree": ("Tree",),
    "ensemble._forest": ("RandomForestClassifier", "ExtraTreesClassifier"),
    "ensemble._gb": ("GradientBoostingClassifier",),
    "ensemble._hist_gradient_boosting.gradient_boosting": ("HistGradientBoostingClassifier",),
    "ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "ensemble._hist_gradient_boosting.binning": ("_BinMapper",),
    "ensemble._weight_boosting": ("AdaBoostClassifier",),
    "ensemble._bagging": ("BaggingClassifier",),
    "ensemble._voting": ("VotingClassifier",),
    "dummy": ("DummyClassifier",),
    "_loss.loss": ("HalfBinomialLoss", "HalfMultinomialLoss", "ExponentialLoss"),
    "_loss._loss": ("CyHalfBinomialLoss", "CyHalfMultinomialLoss", "CyExponentialLoss"),
    "_loss.link": ("Interval", "IdentityLink", "LogLink", "LogitLink", "HalfLogitLink", "MultinomialLogit"),
    # naive Bayes
    "naive_bayes": ("GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB", "CategoricalNB"),
    # SVM, calibrated
    "svm._classes": ("SVC", "NuSVC", "LinearSVC"),
    "calibration": ("CalibratedClassifierCV", "_CalibratedClassifier", "_SigmoidCalibration"),
    "isotonic": ("IsotonicRegression",),
    # nearest neighbours
    "neighbors._classification": ("KNeighborsClassifier", "RadiusNeighborsClassifier"),
    "neighbors._kd_tree": ("KDTree",),
    "neighbors._ball_tree": ("BallTree",),
    "metrics._dist_metrics": tuple(
        f"{name}Distance{bits}"
        for name in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski")
        for bits in (32, 64)
    ),
    # neural networks
    "neural_network._multilayer_perceptron": ("MLPClassifier",),
    "neural_network._stochastic_optimizers": ("AdamOptimizer", "SGDOptimizer"),
    # scalers, encoders, imputers
    "preprocessing._data": ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer"),
    "preprocessing._encoders": ("OneHotEncoder", "OrdinalEncoder"),
    "preprocessing._label": ("LabelEncoder", "LabelBinarizer"),
    "preprocessing._discretization": ("KBinsDiscretizer",),
    "preprocessing._polynomial": ("PolynomialFeatures",),
    "impute._base": ("SimpleImputer", "MissingIndicator"),
    # composition
    "pipeline": ("Pipeline", "FeatureUnion"),
    "compose._column_transformer": ("ColumnTransformer",),
    "utils._bunch": ("Bunch",),
    # text
    "feature_extraction.text": ("CountVectorizer", "TfidfVectorizer", "TfidfTransformer"),
}
_NUMPY_AND_SCIPY = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._csc.csc_array",
)
# every type a supported skops model may hold (exact names; no module prefix is trusted)
SKOPS_ALLOWED = frozenset(
    [f"sklearn.{module}.{name}" for module, names in _SKLEARN.items() for name in names]
    + list(_NUMPY_AND_SCIPY)
    + list(SKOPS_TYPE_REFERENCES)
)


@dataclass(frozen=True)
class SkopsContents:
    """Every (type, loader) a skops file names, and those guard does not allow."""

    types: tuple[str, ...]
    refused: tuple[str, ...]


def _nodes(node: Any) -> Iterator[tuple[str, str]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__class__" in item and "__module__" in item:
                yield f"{item['__module__']}.{item['__class__']}", str(item.get("__loader__", ""))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refused(type_name: str, loader: str) -> bool:
    if loader in _CALLABLE_LOADERS:
        return True
    if loader not in _DATA_LOADERS:
        return True
    if loader == "TypeNode":
        return type_name not in SKOPS_TYPE_REFERENCES
    return type_name not in SKOPS_ALLOWED


def read_skops_contents(path: str | Path) -> SkopsContents:
    """The types a skops file names, read from its schema without building anything.

    A file that is not a skops zip is an InputError naming it (exit 10)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(
            f"not a readable skops file ({type(e).__name__}: {e})",
            path=str(path),
            hint="save the model with skops.io.dump",
        ) from e
    seen = sorted(set(_nodes(schema)))
    types = tuple(sorted({t for t, _ in seen}))
    callable_loaders = _CALLABLE_LOADERS | {"TypeNode"}  # a type reference resolves any name, functions too
    refused = tuple(
        sorted({f"{t} (a callable)" if loader in callable_loaders else t for t, loader in seen if _refused(t, loader)})
    )
    return SkopsContents(types=types, refused=refused)


def check_skops(path: str | Path, *, trust_model: bool) -> SkopsContents:
    """Refuse (UntrustedModelError) a skops file holding anything outside SKOPS_ALLOWED,
    unless `trust_model`. Returns what the file holds."""
    contents = read_skops_contents(path)
    if contents.refused and not trust_model:
        shown = ", ".join(contents.refused[:8]) + (
            f" and {len(contents.refused) - 8} more" if len(contents.refused) > 8 else ""
        )
        raise UntrustedModelError(
            f"{path}: refused: the skops file holds {len(contents.refused)} type(s) outside guard's allow-list "
            f"of scikit-learn estimators and data types: {shown}; nothing was loaded",
            hint="a function or unknown type in a model file can run code when the model predicts; "
            "pass --trust-model only for a file whose maker you trust (the findings record it)",
        )
    return contents


def load_skops(path: str | Path, *, trust_model: bool) -> tuple[Any, SkopsContents]:
    """The estimator in a skops file, after `check_skops`."""
    import skops.io as sio

    contents = check_skops(path, trust_model=trust_model)
    try:
        estimator = sio.load(path, trusted=list(contents.types))
    except Exception as e:  # skops raises several types for a damaged file
        raise InputError(f"cannot load the skops model ({type(e).__name__}: {e})", path=str(path)) from e
    return estimator, contents


# -- Hugging Face and guard model folders -------------------------------------------------------------


def json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not a readable JSON file ({type(e).__name__}: {e})", path=str(path)) from e
    if not isinstance(data, dict):
        raise InputError("not a JSON object", path=str(path))
    return data


def check_hf_checkpoint(path: str | Path) -> None:
    """Refuse a Hugging Face folder that would load a pickle or run its own code."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a Hugging Face checkpoint folder", path=str(path))
    pickles = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise UntrustedModelError(
            f"{path}: refused: the checkpoint holds pickle file(s) {pickles[:5]}; guard loads safetensors weights only",
            hint="convert the weights to model.safetensors (save_pretrained(..., safe_serialization=True)) "
            "and remove the pickles",
        )
    if not ((path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file()):
        raise UntrustedModelError(
            f"{path}: refused: no model.safetensors (or model.safetensors.index.json); guard loads safetensors only"
        )
    _refuse_own_code(path, ("config.json", "tokenizer_config.json"))


def _refuse_own_code(path: Path, config_names: tuple[str, ...]) -> None:
    """Refuse a folder holding Python files or a config naming custom classes (auto_map)."""
    code = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.py"))
    remote = [name for name in config_names if (path / name).is_file() and "auto_map" in json_object(path / name)]
    if code or remote:
        what = [f"{n} names custom classes (auto_map)" for n in remote] + ([f"Python files {code[:5]}"] if code else [])
        raise UntrustedModelError(
            f"{path}: refused: the checkpoint brings its own code ({'; '.join(what)}); "
            "guard never runs a model's code (trust_remote_code is never set)"
        )


def check_guard_model(path: str | Path) -> None:
    """A guard model folder: safetensors only (no pickle anywhere in it) and no code.

    In the Hugging Face layout (guard_model.json `layout` set) the folder is itself a
    checkpoint: no Python files, no `auto_map` in its configs (root and `merged/`).
    In the layout before it, the tokenizer/ subfolder must name no custom classes and a
    model built on a Hugging Face folder (model "hf") has that folder checked too."""
    path = Path(path)
    meta_file = path / "guard_model.json"
    if not meta_file.is_file():
        return  # the loader says what is missing
    meta = json_object(meta_file)
    pickles = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise UntrustedModelError(f"{path}: refused: pickle file(s) {pickles[:5]} in a guard model folder")
    if meta.get("layout", "legacy") != "legacy":
        configs = ("config.json", "tokenizer_config.json", "adapter_config.json")
        _refuse_own_code(path, configs + tuple(f"merged/{name}" for name in configs))
        return
    tokenizer_config = path / "tokenizer" / "tokenizer_config.json"
    if tokenizer_config.is_file() and "auto_map" in json_object(tokenizer_config):
        raise UntrustedModelError(f"{tokenizer_config}: refused: the tokenizer names custom classes (auto_map)")
    params = meta.get("params")
    if meta.get("name") == "hf" and isinstance(params, dict) and params.get("path"):
        check_hf_checkpoint(params["path"])


__all__ = [
    "PICKLE_SUFFIXES",
    "SKOPS_ALLOWED",
    "SKOPS_TYPE_REFERENCES",
    "SkopsContents",
    "check_guard_model",
    "check_hf_checkpoint",
    "check_skops",
    "load_skops",
    "read_skops_contents",
]
