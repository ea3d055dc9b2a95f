"""eco.byo without a server: the light client imports neither torch nor onnxruntime, a torch module is exported
to ONNX with a dynamic batch axis and a parity check, and an export that does not give the module's outputs is
refused with no file left; formats are told by content."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from eco.byo import ExportError, export_torch
from eco.formats import RefusedFile, sniff_format
from ml.runtimes import OnnxRuntime


def test_the_light_client_needs_neither_torch_nor_onnxruntime():
    code = "import sys, eco.byo; print(sorted(m for m in ('torch', 'onnxruntime', 'django') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_module_is_exported_with_a_dynamic_batch_axis_and_matches_torch(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    example = torch.randn(4, 6)
    report = export_torch(net, example, tmp_path / "m.onnx")
    assert report["batches"] == [4, 5] and report["max_abs_difference"] < 1e-4
    assert net.training  # its mode is given back
    assert sniff_format(tmp_path / "m.onnx") == "onnx"
    batch = np.random.default_rng(1).standard_normal((7, 6)).astype(np.float32)
    with torch.inference_mode():
        expected = net.eval()(torch.from_numpy(batch)).numpy()
    assert np.allclose(OnnxRuntime(tmp_path / "m.onnx").run(batch), expected, atol=1e-5)


class Noisy(nn.Module):
    """Random in torch and in ONNX alike (RandomUniformLike), so the two can never agree."""

    def forward(self, x):
        return x + torch.rand_like(x)


def test_an_export_that_differs_from_torch_is_refused_and_leaves_no_file(tmp_path):
    with pytest.raises(ExportError, match="differs from torch by up to"):
        export_torch(Noisy(), torch.zeros(3, 4), tmp_path / "noisy.onnx")
    assert not (tmp_path / "noisy.onnx").exists()
    with pytest.raises(ExportError, match="expected a torch.nn.Module"):
        export_torch(lambda x: x, torch.zeros(3, 4), tmp_path / "f.onnx")
    with pytest.raises(ExportError, match=r"must be a batch \(N, \.\.\.\)"):
        export_torch(nn.Linear(4, 2), torch.zeros(4), tmp_path / "f.onnx")


def test_formats_are_told_by_content_not_by_name(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.ones(3, dtype=np.float32)}, tmp_path / "weights.onnx")
    assert sniff_format(tmp_path / "weights.onnx") == "safetensors"
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps([1, 2, 3], protocol=5))
    with pytest.raises(RefusedFile, match="this is a pickle"):
        sniff_format(tmp_path / "model.safetensors")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(RefusedFile, match="empty"):
        sniff_format(tmp_path / "empty.onnx")
