"""Fine-tuning on a real Celery worker: a tiny BERT checkpoint (written by the test) imported through the API,
fine-tuned in full and with LoRA on a small review data set, registered as a version of format hf whose lineage
names the base version and the data set; a worker killed mid-run is replaced and the job resumes from its last
checkpoint to the weights of an uninterrupted run; a cancel takes effect within seconds; bad specs are 400s."""

import io

import pytest
import torch
from safetensors.torch import load_file

from datasets_app import blobs
from jobs_app.models import Job
from models_app import checkpoints
from models_app.models import ModelVersion
from tests.helpers import ISOLATED_POOL, folder_files, review_texts, submit, tiny_bert, wait_finished, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
HYPER = {"epochs": 6, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0}


@pytest.fixture
def setup(world, tmp_path):
    """{base: the imported tiny BERT version, data: a review data set version (200 rows), client}."""
    member = world.client("member")
    model = member.post(
        "/api/v1/models/", {"team": "alpha", "name": "tiny-bert", "task": "text-classification"}, format="json"
    ).json()
    base = member.post(
        f"/api/v1/models/{model['id']}/versions/import/",
        {"files": folder_files(tiny_bert(tmp_path / "tiny"))},
        format="multipart",
    )
    assert base.status_code == 201, base.json()
    dataset = member.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "reviews", "task": "text-classification"}, format="json"
    ).json()
    texts, labels = review_texts(200)
    text = io.BytesIO(("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in zip(texts, labels, strict=True))).encode())
    text.name = "reviews.csv"
    data = member.post(
        f"/api/v1/datasets/{dataset['id']}/versions/", {"file": text, "target": "label"}, format="multipart"
    )
    assert data.status_code == 201, data.json()
    return {"base": base.json(), "data": data.json(), "client": member}


def spec(setup, **changes) -> dict:
    return {
        "base_version": setup["base"]["id"],
        "dataset_version": setup["data"]["id"],
        "model": "reviews-bert",
        "max_length": 32,
        "hyperparameters": HYPER,
        **changes,
    }


def weights_of(version_id) -> dict[str, torch.Tensor]:
    version = ModelVersion.objects.get(pk=version_id)
    with blobs.local_copy(version.blob) as path:
        return load_file(path)


def test_full_and_lora_finetune_register_hf_versions_with_lineage(setup, worker):
    member = setup["client"]
    full = submit(member, "finetune", spec(setup))
    lora_spec = spec(setup, method="lora", lora={"r": 4, "alpha": 8}, hyperparameters={**HYPER, "lr": 1e-2})
    lora = submit(member, "finetune", lora_spec)
    adapter = submit(member, "finetune", {**lora_spec, "lora": {"r": 4, "alpha": 8, "merge": False}})
    done = wait_finished(full["id"], timeout=180)
    assert done.status == "succeeded", done.error
    version = member.get(f"/api/v1/model-versions/{done.outputs['model_version']}/").json()
    assert version["format"] == "hf" and version["parent"] == setup["base"]["id"]
    assert version["dataset_versions"] == [setup["data"]["id"]] and version["job"] == full["id"]
    assert version["metrics"]["accuracy"] >= 0.9 and "val_accuracy" in version["metrics"]
    assert (
        version["spec"]["classes"] == ["neg", "pos"]
        and version["spec"]["architecture"] == "BertForSequenceClassification"
    )
    assert version["spec"]["base_version"] == setup["base"]["id"] and version["spec"]["head"] == [
        "classifier.bias",
        "classifier.weight",
    ]
    assert version["params"]["method"] == "full" and version["params"]["split"]["test_rows"] == 40
    keys = {k["key"] for k in member.get(f"/api/v1/jobs/{full['id']}/metrics/").json()["keys"]}
    assert {"loss", "lr", "tokens_per_s", "memory_mb", "train_loss", "val_accuracy"} <= keys
    lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
    assert any(line.startswith("full fine-tuning of tiny-bert v1") for line in lines)

    adapted = wait_finished(lora["id"], timeout=180)
    assert adapted.status == "succeeded", adapted.error
    lora_version = ModelVersion.objects.get(pk=adapted.outputs["model_version"])
    assert lora_version.params["method"] == "lora" and lora_version.params["lora"]["r"] == 4
    assert lora_version.params["trainable_parameters"] < lora_version.num_parameters / 5
    assert not any("lora" in name for name in lora_version.tensors)  # merged for serving
    assert str(lora_version.model_id) == version["model"]  # the same model, version 2

    # the same LoRA run stored as an adapter on its base: a small file, merged when loaded, serving the same
    stored = wait_finished(adapter["id"], timeout=180)
    assert stored.status == "succeeded", stored.error
    on_base = ModelVersion.objects.get(pk=stored.outputs["model_version"])
    assert on_base.parent_id == lora_version.parent_id and on_base.spec["adapter"]["r"] == 4
    assert {f.name for f in on_base.files.all()} >= {"adapter_model.safetensors", "adapter_config.json", "config.json"}
    assert "model.safetensors" not in {f.name for f in on_base.files.all()}
    assert on_base.blob.size_bytes < lora_version.blob.size_bytes / 2
    assert on_base.num_parameters == lora_version.num_parameters  # the merged network's, as the merged version
    assert 0 < on_base.spec["adapter"]["parameters"] < on_base.num_parameters / 5
    with checkpoints.local_folder(on_base) as merged:
        weights = load_file(merged / "model.safetensors")
    reference = weights_of(lora_version.pk)
    assert set(weights) == set(reference)
    assert max((weights[k] - reference[k]).abs().max().item() for k in reference) < 1e-5
    texts = ["a great fun movie", "an awful boring plot"]
    answers = [
        member.post(
            f"/api/v1/models/{version['model']}/predict/", {"inputs": texts, "version": str(v.pk)}, format="json"
        )
        for v in (lora_version, on_base)
    ]
    assert all(a.status_code == 200 for a in answers), [a.json() for a in answers]
    merged_scores, adapter_scores = ([p["scores"] for p in a.json()["predictions"]] for a in answers)
    for one, other in zip(merged_scores, adapter_scores, strict=True):
        assert max(abs(one[c] - other[c]) for c in one) < 1e-5

    # base -> fine-tuned lineage on both models' timelines, and the base model listed among hf models
    timeline = member.get(f"/api/v1/models/{version['model']}/timeline/").json()
    nodes = {n["id"]: n for n in timeline["nodes"]}
    base_node = nodes[f"model_version:{setup['base']['id']}"]
    assert base_node["label"] == "tiny-bert v1" and base_node["data"]["model"] == setup["base"]["model"]
    edges = {(e["source"], e["target"], e["label"]) for e in timeline["edges"]}
    assert (base_node["id"], f"job:{full['id']}", "base model") in edges
    assert (f"job:{full['id']}", f"model_version:{version['id']}", "produced") in edges
    below = member.get(f"/api/v1/models/{setup['base']['model']}/timeline/").json()
    assert f"model_version:{version['id']}" in {n["id"] for n in below["nodes"]}
    assert (f"model_version:{setup['base']['id']}", f"job:{full['id']}", "base model") in {
        (e["source"], e["target"], e["label"]) for e in below["edges"]
    }
    listed = member.get("/api/v1/models/?team=alpha&weights_format=hf").json()["results"]
    assert {m["name"]: m["formats"] for m in listed} == {"reviews-bert": ["hf"], "tiny-bert": ["hf"]}
    assert member.get("/api/v1/models/?weights_format=pickle").status_code == 400


def test_a_killed_worker_resumes_the_finetune_to_an_uninterrupted_runs_weights(setup, stack, worker):
    member = setup["client"]
    resumable = spec(setup, hyperparameters={**HYPER, "epochs": 4, "checkpoint_every": 3})
    whole = submit(member, "finetune", {**resumable, "model": "whole"})
    first = stack.worker(ISOLATED_POOL, ECO_TRAIN_STEP_DELAY_S="0.15")
    reaper = second = None
    try:
        job = submit(member, "finetune", {**resumable, "model": "survivor"}, resources={"pool": ISOLATED_POOL})
        wait_for(job["id"], lambda j: j.status == "running" and j.checkpoint, what="the first checkpoint", timeout=120)
        first.kill()
        reaper = stack.reaper(every=0.5)
        second = stack.worker(ISOLATED_POOL)
        done = wait_finished(job["id"], timeout=180)
        assert done.status == "succeeded", done.error + "\n" + reaper.log()
        assert done.attempts == 2
        lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
        resumed = [line for line in lines if line.startswith("resumed from the checkpoint at step")]
        assert resumed, lines
        step = int(resumed[0].split("step ")[1].split(" ")[0])
        resumed_version = ModelVersion.objects.get(pk=done.outputs["model_version"])
        assert resumed_version.params["resumed_from_step"] == step > 0
    finally:
        for process in (first, second, reaper):
            if process is not None:
                process.stop()
    uninterrupted = wait_finished(whole["id"], timeout=180)
    assert uninterrupted.status == "succeeded", uninterrupted.error
    expected, got = weights_of(uninterrupted.outputs["model_version"]), weights_of(done.outputs["model_version"])
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_a_cancelled_finetune_stops_within_seconds(setup, stack):
    member = setup["client"]
    slow = stack.worker(ISOLATED_POOL, ECO_TRAIN_STEP_DELAY_S="0.2")
    try:
        job = submit(
            member, "finetune", spec(setup, hyperparameters={**HYPER, "epochs": 200}), resources={"pool": ISOLATED_POOL}
        )
        wait_for(job["id"], lambda j: j.status == "running" and j.progress > 0, what="a step", timeout=120)
        assert member.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 200
        done = wait_finished(job["id"], timeout=30)
        # 200 epochs of 9 slowed steps would take minutes: it stopped between steps, long before the end
        assert done.status == "cancelled" and done.progress < 0.05
        assert not done.outputs
    finally:
        slow.stop()


def test_finetune_specs_are_checked_on_submit(setup, world, model_version):
    member = setup["client"]

    def refused(field, message, **changes):
        response = member.post(
            "/api/v1/jobs/", {"team": "alpha", "kind": "finetune", "spec": spec(setup, **changes)}, format="json"
        )
        assert response.status_code == 400, response.json()
        assert message in response.json()["errors"][field][0], response.json()

    refused(
        "spec.base_version", "fine-tuning starts from a Hugging Face checkpoint", base_version=str(model_version.pk)
    )
    refused("spec.method", "method must be one of full, lora", method="prefix")
    refused("spec.lora.target_modules", "must be a list", method="lora", lora={"target_modules": "query"})
    refused("spec.lora", "LoRA settings need method lora", lora={"r": 4})
    refused("spec.hyperparameters", "'epochs' must be between 1 and 1000", hyperparameters={"epochs": 0})
    refused("spec.max_length", "from 8 to 128", max_length=4096)
    refused("spec.text_column", "no text column named 'body'", text_column="body")
    refused("spec.lora.merge", "must be true or false", method="lora", lora={"merge": "no"})
    # an adapter goes on a version holding its whole weights, not on another adapter
    adapter = ModelVersion.objects.get(pk=setup["base"]["id"])
    adapter.spec = {**adapter.spec, "adapter": {"peft_type": "LORA", "r": 4}}
    adapter.save(update_fields=["spec"])
    refused("spec.lora.merge", "is itself a LoRA adapter", method="lora", lora={"merge": False})
    assert Job.objects.filter(kind="finetune").count() == 0


def test_two_processes_on_a_worker_and_a_killed_rank_retried_from_the_checkpoint(setup, stack):
    """resources.processes 2: DistributedDataParallel over gloo in two processes the worker starts, held as two
    slots; SIGKILL on one rank fails the attempt (RankFailed, transient), and the retry resumes from the last
    checkpoint and registers one version."""
    import psutil

    member = setup["client"]
    first = stack.worker(ISOLATED_POOL, ECO_TRAIN_STEP_DELAY_S="0.15")
    try:
        job = submit(
            member,
            "finetune",
            spec(setup, hyperparameters={**HYPER, "batch_size": 8, "epochs": 4, "checkpoint_every": 3}),
            resources={"pool": ISOLATED_POOL, "processes": 2},
            max_retries=2,
        )
        assert Job.objects.get(pk=job["id"]).units == 2
        wait_for(job["id"], lambda j: j.status == "running" and j.checkpoint, what="the first checkpoint", timeout=120)
        ranks = [p for p in psutil.Process(first.proc.pid).children(recursive=True) if "ml.distributed" in p.cmdline()]
        assert len(ranks) == 2, [p.cmdline() for p in psutil.Process(first.proc.pid).children(recursive=True)]
        ranks[-1].kill()
        done = wait_finished(job["id"], timeout=240)
        assert done.status == "succeeded", done.error
        assert done.attempts == 2
        lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
        assert any("2 processes with DistributedDataParallel (gloo)" in line for line in lines)
        assert any("died" in line for line in lines), lines
        assert any(line.startswith("resumed from the checkpoint at step") for line in lines), lines
        version = ModelVersion.objects.get(pk=done.outputs["model_version"])
        assert version.params["processes"] == 2 and version.params["resumed_from_step"] > 0
        assert ModelVersion.objects.filter(model__name="reviews-bert").count() == 1
    finally:
        first.stop()


def test_processes_are_refused_for_kinds_that_run_in_one(setup):
    response = setup["client"].post(
        "/api/v1/jobs/",
        {"team": "alpha", "kind": "evaluate", "spec": {}, "resources": {"processes": 2}},
        format="json",
    )
    assert response.status_code == 400
    assert "only train and finetune jobs run in several" in response.json()["errors"]["resources.processes"][0]
