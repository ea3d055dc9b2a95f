"""MLflow model folders (what `mlflow.<flavor>.log_model` writes): reading their `MLmodel` file and, for an ONNX
model, the Eco serving spec its signature gives (ml.inference.check_serving_spec).

An MLmodel file is YAML (https://mlflow.org/docs/latest/ml/model/#storage-format): `flavors` (one entry per
flavour; the onnx flavour's `data` names the graph file), `signature` (`inputs` and `outputs` as JSON texts:
a column-based schema `[{"name", "type"}]` or a tensor-based one `[{"type": "tensor", "tensor-spec": {"dtype",
"shape"}}]`) and an optional `metadata` mapping. Eco reads only these; it never loads a pickled flavour.

An Eco user may complete the serving spec through `metadata={"eco": {...}}` in `log_model`: `task`, `classes`,
`outputs` ("logits" or "probabilities"), `target`, `feature_names`, `input_mean`, `input_std`.
"""

from __future__ import annotations

import json

import yaml

from ml.errors import UserError

MLMODEL = "MLmodel"
MAX_MLMODEL_BYTES = 1 << 20
NUMERIC_COLUMN_TYPES = {"double", "float", "long", "integer", "boolean"}
FLOAT_TENSOR_TYPES = {"float32", "float64", "float16"}
ECO_KEYS = {"task", "classes", "outputs", "target", "feature_names", "input_mean", "input_std"}


class NotServable(UserError):
    """Why Eco cannot serve an MLflow model (it is still stored, as an opaque folder)."""


class _NoAliases(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: MLflow never writes them, and a few nested aliases expand into an
    exponentially large document once turned into text (a "billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("it uses a YAML alias (*name), which an MLmodel file never needs")
        return super().compose_node(parent, index)


def read_mlmodel(data: bytes) -> dict:
    """The MLmodel file's mapping, checked to be one. Raises UserError (400) for a file that is not YAML (or
    uses aliases) or holds no `flavors` mapping, or is over MAX_MLMODEL_BYTES."""
    if len(data) > MAX_MLMODEL_BYTES:
        raise UserError(f"the MLmodel file is {len(data):,} bytes; at most {MAX_MLMODEL_BYTES:,}")
    try:
        parsed = yaml.load(data.decode("utf-8"), Loader=_NoAliases)  # noqa: S506 - a safe loader, aliases refused
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise UserError(f"the MLmodel file is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("flavors"), dict) or not parsed["flavors"]:
        raise UserError("the MLmodel file names no flavors")
    return parsed


def flavors(mlmodel: dict) -> list[str]:
    """The model's flavour names, sorted (python_function left out: every flavour has it)."""
    return sorted(str(name) for name in mlmodel["flavors"] if name != "python_function")


def onnx_file(mlmodel: dict) -> str | None:
    """The name of the ONNX graph in the folder, when the model has the onnx flavour."""
    flavor = mlmodel["flavors"].get("onnx")
    if not isinstance(flavor, dict):
        return None
    data = flavor.get("data")
    return data if isinstance(data, str) and data else None


def _schema(signature: dict, key: str) -> list | None:
    text = signature.get(key)
    if text is None or text == "":
        return None
    if not isinstance(text, str):  # MLflow writes each schema as JSON text
        raise NotServable(f"the signature's {key} are not JSON text")
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError):
        raise NotServable(f"the signature's {key} are not JSON") from None
    if not isinstance(schema, list) or not all(isinstance(item, dict) for item in schema):
        raise NotServable(f"the signature's {key} are not a list of columns or tensors")
    return schema


def _tensor_shape(item: dict) -> tuple[str, list]:
    spec = item.get("tensor-spec")
    shape = spec.get("shape") if isinstance(spec, dict) else None
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise NotServable("a tensor of the signature has no shape")
    return str(spec.get("dtype")), shape


def _inputs(schema: list, eco: dict) -> list[str]:
    """The feature names of a tabular input: the columns' names, or names for a tensor's F values."""
    if not all(isinstance(item.get("type"), str) for item in schema):
        raise NotServable("every input of the signature needs a type")
    if all(item.get("type") != "tensor" for item in schema):
        odd = [
            f"{item.get('name')} ({item.get('type')})"
            for item in schema
            if item.get("type") not in NUMERIC_COLUMN_TYPES
        ]
        if odd:
            raise NotServable(f"Eco serves numeric inputs; the signature has {', '.join(odd[:5])}")
        names = [item.get("name") for item in schema]
        if not all(isinstance(n, str) and n for n in names):
            raise NotServable("every input column of the signature needs a name")
        return names
    if len(schema) != 1:
        raise NotServable(f"Eco serves a model of one input tensor; the signature has {len(schema)} inputs")
    dtype, shape = _tensor_shape(schema[0])
    if dtype not in FLOAT_TENSOR_TYPES or len(shape) != 2 or shape[1] < 1:
        raise NotServable(
            f"Eco serves a float input of shape (batch, features); the signature's input is {dtype} {shape}"
        )
    given = eco.get("feature_names")
    if given is not None:
        if not isinstance(given, list) or len(given) != shape[1]:
            raise NotServable(f"metadata eco.feature_names must name the input's {shape[1]} values")
        return given
    return [f"x{i}" for i in range(shape[1])]


def _width(schema: list | None) -> int | None:
    """Values per input of the one output tensor (1 for a (batch,) output), None when it does not say."""
    if not schema or len(schema) != 1 or schema[0].get("type") != "tensor":
        return None
    _, shape = _tensor_shape(schema[0])
    if len(shape) == 1:
        return 1
    if len(shape) == 2 and shape[1] >= 1:
        return shape[1]
    return None


def serving_spec(mlmodel: dict, *, task: str | None) -> dict:
    """The serving spec (input to ml.inference.check_serving_spec) of an ONNX MLflow model, from its signature
    and metadata `eco`. The task is metadata eco.task, else `task` (the registered model's), else what the
    output tensor's width says (1: regression, K >= 2: classification of K classes named "0".."K-1" unless
    eco.classes names them). Raises NotServable naming what is missing."""
    if onnx_file(mlmodel) is None:
        raise NotServable(f"Eco serves ONNX models; this one's flavours are {', '.join(flavors(mlmodel)) or 'none'}")
    metadata = mlmodel.get("metadata")
    eco = (metadata or {}).get("eco") if isinstance(metadata, dict) else None
    eco = eco if isinstance(eco, dict) else {}
    unknown = sorted(map(str, set(eco) - ECO_KEYS))
    if unknown:
        raise NotServable(f"unknown key(s) in metadata eco: {', '.join(unknown)}; known: {', '.join(sorted(ECO_KEYS))}")
    signature = mlmodel.get("signature")
    inputs = _schema(signature, "inputs") if isinstance(signature, dict) else None
    if not inputs:
        raise NotServable(
            "the model was logged without a signature, so Eco does not know its inputs: log it with "
            "signature=mlflow.models.infer_signature(X, model_output)"
        )
    feature_names = _inputs(inputs, eco)
    width = _width(_schema(signature, "outputs"))
    task = eco.get("task") or task
    if not task:
        if width is None:
            raise NotServable(
                "neither the signature's output nor metadata eco.task says the task: log the model with "
                "metadata={'eco': {'task': 'classification'}} (or regression)"
            )
        task = "regression" if width == 1 else "classification"
    preprocessing: dict = {"kind": "tabular", "feature_names": feature_names}
    for key in ("input_mean", "input_std"):
        if key in eco:
            preprocessing[key] = eco[key]
    if task != "regression":
        classes = eco.get("classes")
        if classes is None:
            if width is None or width < 2:
                raise NotServable("a classifier's classes are unknown: name them in metadata eco.classes")
            classes = [str(i) for i in range(width)]
        preprocessing["classes"] = classes
    spec: dict = {"task": task, "preprocessing": preprocessing}
    for key in ("outputs", "target"):
        if key in eco:
            spec[key] = eco[key]
    return spec
