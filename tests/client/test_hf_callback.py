"""eco.hf.EcoCallback: a real transformers Trainer fine-tuning a tiny BERT (written by the test) in process logs
its run to a live Eco server: the run's parameters, every number the Trainer logs at its global step, and the
run finished when training ends."""

import pytest

from accounts_app.services import issue_token
from jobs_app import metrics
from jobs_app.models import Job
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.helpers import review_texts, tiny_bert


@pytest.fixture
def token(transactional_db):
    user = UserFactory(username="ada")
    MembershipFactory(team=TeamFactory(slug="alpha"), user=user, role="member")
    return issue_token(user=user, name="trainer")[1]


def test_a_trainer_logs_its_run_with_two_lines(live_server, token, tmp_path, monkeypatch):
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from eco.hf import EcoCallback

    monkeypatch.setenv("ECO_SPOOL_DIR", str(tmp_path / "spool"))
    folder = tiny_bert(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    texts, labels = review_texts(64)
    rows = [
        {**tokenizer(text, truncation=True, max_length=32), "labels": int(label == "pos")}
        for text, label in zip(texts, labels, strict=True)
    ]
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
    )
    callback = EcoCallback(team="alpha", model="trainer-bert", url=live_server.url, token=token, log_environment=False)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[callback],
    )
    trainer.train()

    job = Job.objects.get(pk=callback.run.id)
    assert job.kind == "tracking" and job.status == "succeeded"
    params = job.spec["params"]
    assert params["args.learning_rate"] == 0.003 and params["args.num_train_epochs"] == 2
    assert params["model.class"] == "BertForSequenceClassification" and params["model.type"] == "bert"
    assert params["model.parameters"] == sum(p.numel() for p in model.parameters())
    stored = metrics.stored_points(job.pk)
    loss = [(step, value) for key, step, value, _ in stored if key == "loss"]
    assert [step for step, _ in loss] == list(range(1, 9))  # 64 rows, 16 a step, 2 epochs, logged every step
    assert {key for key, *_ in stored} >= {"loss", "learning_rate", "grad_norm", "train_runtime", "epoch"}


def test_the_callback_needs_a_team_or_a_run():
    from eco.hf import EcoCallback

    with pytest.raises(ValueError, match="team="):
        EcoCallback(model="x")
