"""Exports (ONNX, TorchScript) match eager PyTorch for every architecture and batch size, int8 quantization
really stores 8-bit weights and keeps a trained digits cnn's accuracy, and the runtimes behave under threads."""

import threading

import numpy as np
import onnx
import pytest
import torch
from sklearn.datasets import load_digits

from ml.architectures import build_model
from ml.artifacts import save_weights
from ml.data import encode_targets, prepare, split_indices
from ml.optimize import (
    OptimizeError,
    example_inputs,
    export_onnx,
    export_torchscript,
    file_size,
    float_weights,
    latency_ms,
    max_abs_difference,
    quantize_int8,
)
from ml.pipeline import train
from ml.runtimes import (
    OnnxRuntime,
    RuntimeFormatError,
    TorchRuntime,
    TorchScriptRuntime,
    load_runtime,
)
from ml.train import NullReporter

SPECS = {
    "mlp": {"architecture": "mlp", "in_features": 64, "num_outputs": 10, "hidden": [128, 64], "dropout": 0.1},
    "cnn": {"architecture": "cnn", "in_channels": 1, "image_size": [8, 8], "num_outputs": 10, "channels": [32, 64]},
    "textcnn": {"architecture": "textcnn", "vocab_size": 300, "num_outputs": 2, "embed_dim": 32, "max_len": 24},
    "transformer": {
        "architecture": "transformer",
        "vocab_size": 300,
        "num_outputs": 2,
        "embed_dim": 32,
        "num_heads": 4,
        "num_layers": 2,
        "max_len": 24,
    },
}


def random_model(architecture: str, seed: int = 0) -> torch.nn.Module:
    """Untrained network with random weights and BatchNorm statistics that are not the identity, so that
    folding BatchNorm into the convolutions is actually tested."""
    torch.manual_seed(seed)
    model = build_model(SPECS[architecture])
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def inputs_for(architecture: str, batch: int, seed: int = 1) -> np.ndarray:
    """Random inputs; token rows have padding at the end (lengths 1..max_len)."""
    rng = np.random.default_rng(seed)
    spec = SPECS[architecture]
    if architecture == "mlp":
        return rng.standard_normal((batch, 64)).astype(np.float32)
    if architecture == "cnn":
        return rng.standard_normal((batch, 1, 8, 8)).astype(np.float32)
    tokens = rng.integers(1, spec["vocab_size"], size=(batch, spec["max_len"]))
    lengths = rng.integers(1, spec["max_len"] + 1, size=batch)
    tokens[np.arange(spec["max_len"])[None, :] >= lengths[:, None]] = 0
    return tokens.astype(np.int64)


def eager(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(inputs)).numpy()


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    """A digits cnn trained for a few epochs, its held-out test rows and its files in every format."""
    bunch = load_digits()
    columns = {f"p{i}": bunch.data[:, i].astype(np.float64) for i in range(64)}
    columns["target"] = bunch.target.astype(np.float64)
    torch.manual_seed(0)
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture="cnn",
        hyperparameters={"epochs": 3},
        reporter=NullReporter(),
        device="cpu",
    )
    targets, _ = encode_targets(columns["target"], "classification")
    _, _, test_index = split_indices(targets, seed=0)
    test = prepare(
        {name: values[test_index] for name, values in columns.items()},
        target="target",
        task="classification",
        architecture="cnn",
        preprocessing=outcome.spec["preprocessing"],
    )
    folder = tmp_path_factory.mktemp("digits_cnn")
    paths = {fmt: folder / f"model.{fmt}" for fmt in ("safetensors", "onnx", "torchscript")}
    save_weights(outcome.model, paths["safetensors"])
    export_onnx(outcome.model, outcome.spec, paths["onnx"])
    export_torchscript(outcome.model, outcome.spec, paths["torchscript"])
    paths["int8"] = folder / "model.int8.onnx"
    quantize_int8(paths["onnx"], paths["int8"])
    return {"model": outcome.model, "spec": outcome.spec, "test": test, "paths": paths}


# --- export ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", list(SPECS))
def test_onnx_export_matches_torch_for_any_batch(architecture, tmp_path):
    model, path = random_model(architecture), tmp_path / "model.onnx"
    export_onnx(model, SPECS[architecture], path)

    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == ["inputs"]
    assert [o.name for o in graph.graph.output] == ["outputs"]
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis
    runtime = OnnxRuntime(path)
    for batch in (1, 5):
        inputs = inputs_for(architecture, batch)
        outputs = runtime.run(inputs)
        assert outputs.dtype == np.float32 and outputs.shape == (batch, SPECS[architecture]["num_outputs"])
        assert max_abs_difference(eager(model, inputs), outputs) <= 1e-4


@pytest.mark.parametrize("architecture", list(SPECS))
def test_torchscript_export_matches_torch_for_any_batch(architecture, tmp_path):
    model, path = random_model(architecture), tmp_path / "model.pt"
    export_torchscript(model, SPECS[architecture], path)

    runtime = TorchScriptRuntime(path)
    for batch in (1, 5):
        inputs = inputs_for(architecture, batch)
        outputs = runtime.run(inputs)
        assert outputs.dtype == np.float32 and outputs.shape == (batch, SPECS[architecture]["num_outputs"])
        assert max_abs_difference(eager(model, inputs), outputs) <= 1e-4


def test_export_puts_back_training_mode_and_the_transformer_fast_path(tmp_path):
    model = random_model("transformer").train()
    export_onnx(model, SPECS["transformer"], tmp_path / "model.onnx")
    export_torchscript(model, SPECS["transformer"], tmp_path / "model.pt")
    assert model.training
    assert torch.backends.mha.get_fastpath_enabled()


def test_export_refuses_what_it_cannot_export(tmp_path):
    path = tmp_path / "model.onnx"
    with pytest.raises(OptimizeError, match="cannot export architecture 'resnet'"):
        export_onnx(random_model("mlp"), {"architecture": "resnet"}, path)
    with pytest.raises(OptimizeError, match="expected a torch.nn.Module"):
        export_torchscript("not a model", SPECS["mlp"], path)
    with pytest.raises(OptimizeError, match="needs 'image_size'"):
        export_onnx(random_model("cnn"), {"architecture": "cnn", "num_outputs": 10}, path)
    wrong_width = {**SPECS["mlp"], "in_features": 10}  # the spec does not describe the model
    with pytest.raises(OptimizeError, match="cannot export the mlp to ONNX"):
        export_onnx(random_model("mlp"), wrong_width, path)
    assert not path.exists()


def test_example_inputs_follow_the_spec():
    assert example_inputs(SPECS["mlp"]).shape == (2, 64)
    assert example_inputs(SPECS["mlp"]).dtype == np.float32
    digits = {"architecture": "cnn", "num_outputs": 10, "preprocessing": {"image_shape": [8, 8]}}
    assert example_inputs(digits, batch=3).shape == (3, 1, 8, 8)
    tokens = example_inputs(SPECS["transformer"], batch=4)
    assert tokens.shape == (4, 24) and tokens.dtype == np.int64 and (tokens != 0).all()


# --- int8 --------------------------------------------------------------------------------------------------


def op_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("architecture", ["cnn", "mlp"])
def test_int8_stores_8bit_weights_and_is_much_smaller(architecture, tmp_path):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export_onnx(random_model(architecture), SPECS[architecture], fp32)
    quantize_int8(fp32, int8)

    ops = op_types(int8)
    assert "MatMulInteger" in ops and not ops & {"Gemm", "MatMul", "Conv"}
    if architecture == "cnn":
        assert "ConvInteger" in ops
    assert float_weights(int8) == []
    assert file_size(fp32) / file_size(int8) >= 2.5
    inputs = inputs_for(architecture, 4)
    assert max_abs_difference(OnnxRuntime(fp32).run(inputs), OnnxRuntime(int8).run(inputs)) < 0.5


@pytest.mark.parametrize("architecture", ["textcnn", "transformer"])
def test_int8_quantizes_text_models_too(architecture, tmp_path):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export_onnx(random_model(architecture), SPECS[architecture], fp32)
    quantize_int8(fp32, int8)

    assert "MatMulInteger" in op_types(int8) and "Gemm" not in op_types(int8)
    assert float_weights(int8) == []  # embeddings, convolutions and every Linear are 8-bit
    assert file_size(int8) < file_size(fp32)
    inputs = inputs_for(architecture, 3)
    assert np.isfinite(OnnxRuntime(int8).run(inputs)).all()


def test_int8_keeps_a_trained_digits_cnn_accurate(digits_cnn, record_property):
    test, paths = digits_cnn["test"], digits_cnn["paths"]
    fp32 = OnnxRuntime(paths["onnx"]).run(test.inputs)
    int8 = OnnxRuntime(paths["int8"]).run(test.inputs)
    accuracy_fp32 = float((fp32.argmax(1) == test.targets).mean())
    accuracy_int8 = float((int8.argmax(1) == test.targets).mean())
    difference = max_abs_difference(fp32, int8)
    record_property("accuracy_fp32", accuracy_fp32)
    record_property("accuracy_int8", accuracy_int8)
    record_property("max_abs_logit_difference", difference)
    print(f"digits cnn: accuracy fp32 {accuracy_fp32:.4f}, int8 {accuracy_int8:.4f}; max |logit diff| {difference:.4f}")

    assert accuracy_fp32 > 0.8  # it did learn
    assert abs(accuracy_int8 - accuracy_fp32) <= 0.05
    assert np.isfinite(difference)
    assert file_size(paths["onnx"]) / file_size(paths["int8"]) >= 2.5


def test_quantize_refuses_a_file_that_is_not_onnx(tmp_path):
    source = tmp_path / "model.onnx"
    source.write_bytes(b"not a graph")
    with pytest.raises(OptimizeError, match="not a readable ONNX graph"):
        quantize_int8(source, tmp_path / "int8.onnx")


# --- runtimes ----------------------------------------------------------------------------------------------


def test_load_runtime_serves_every_format_alike(digits_cnn):
    spec, paths, rows = digits_cnn["spec"], digits_cnn["paths"], digits_cnn["test"].inputs[:7]
    reference = eager(digits_cnn["model"], rows)
    runtimes = {fmt: load_runtime(fmt, spec, paths[fmt]) for fmt in ("safetensors", "onnx", "torchscript")}
    assert isinstance(runtimes["safetensors"], TorchRuntime)
    assert {fmt: r.name for fmt, r in runtimes.items()} == {
        "safetensors": "torch",
        "onnx": "onnxruntime",
        "torchscript": "torchscript",
    }
    for runtime in runtimes.values():
        assert max_abs_difference(reference, runtime.run(rows)) <= 1e-4
        assert runtime.run(rows.astype(np.float64)).dtype == np.float32  # inputs are cast


def test_load_runtime_names_an_unknown_format(digits_cnn):
    with pytest.raises(RuntimeFormatError, match="unknown model format 'pickle'"):
        load_runtime("pickle", digits_cnn["spec"], digits_cnn["paths"]["onnx"])
    assert issubclass(RuntimeFormatError, ValueError)


def run_from_threads(runtime, batches: list[np.ndarray], threads: int = 4) -> list[list[np.ndarray]]:
    """Every thread runs every batch, all threads released at once and each starting at a different batch;
    each thread's outputs come back in the order of `batches`."""
    results: list[list[np.ndarray]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(thread: int) -> None:
        start.wait()
        order = list(range(thread, len(batches))) + list(range(thread))
        outputs = {i: runtime.run(batches[i]) for i in order}
        results[thread] = [outputs[i] for i in range(len(batches))]

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_runtimes_give_identical_outputs_from_concurrent_threads(digits_cnn):
    spec, paths, rows = digits_cnn["spec"], digits_cnn["paths"], digits_cnn["test"].inputs
    runtimes = [
        TorchRuntime(spec, paths["safetensors"]),
        OnnxRuntime(paths["onnx"]),
        OnnxRuntime(paths["int8"]),
        TorchScriptRuntime(paths["torchscript"]),
    ]
    batches = [rows[i : i + 1 + i % 3] for i in range(40)]  # batches of 1 to 3 rows
    for runtime in runtimes:
        expected = [runtime.run(batch) for batch in batches]
        for outputs in run_from_threads(runtime, batches):
            assert len(outputs) == len(batches)
            for got, want in zip(outputs, expected, strict=True):
                np.testing.assert_array_equal(got, want, err_msg=runtime.name)


# --- measurements ------------------------------------------------------------------------------------------


def test_latency_tiles_rows_up_to_the_batch(digits_cnn, record_property):
    runtime = OnnxRuntime(digits_cnn["paths"]["onnx"])
    one = digits_cnn["test"].inputs[:1]
    timing = latency_ms(runtime, one, batch=4, repeats=20)
    assert set(timing) == {"p50", "p99", "batch"} and timing["batch"] == 4
    assert 0 < timing["p50"] <= timing["p99"]
    record_property("onnx_batch4_p50_ms", timing["p50"])
    with pytest.raises(OptimizeError, match="batch must be a positive integer"):
        latency_ms(runtime, one, batch=0)


def test_max_abs_difference():
    assert max_abs_difference(np.zeros((2, 3)), np.full((2, 3), 0.25)) == 0.25
    assert max_abs_difference(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert max_abs_difference(np.array([[np.nan]]), np.array([[0.0]])) == float("inf")
    with pytest.raises(OptimizeError, match="shapes"):
        max_abs_difference(np.zeros((2, 3)), np.zeros((3, 2)))
