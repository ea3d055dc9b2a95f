"""A small Python client for the Eco REST API (httpx).

from eco import Client
eco = Client("http://127.0.0.1:8000", token="eco_...")      # or Client.login(url, username, password)
ds = eco.create_dataset(team="demo", name="iris", task="classification")
v = eco.upload_version(ds["id"], "iris.csv", target="species")
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class EcoError(Exception):
    """The API answered with an error; `status` and `body` hold its answer."""

    def __init__(self, status: int, body):
        self.status = status
        self.body = body
        detail = body.get("detail") if isinstance(body, dict) else str(body)
        super().__init__(f"{status}: {detail}")


class Client:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 600.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=f"{self.url}/api/v1/", headers=headers, timeout=timeout)

    @classmethod
    def login(cls, url: str, username: str, password: str, *, name: str = "eco-cli") -> tuple[Client, dict]:
        """A client with a fresh token; returns it and the token record (the token is shown only once)."""
        anonymous = cls(url)
        try:
            record = anonymous._call(
                "POST", "auth/token/", json={"username": username, "password": password, "name": name}
            )
        finally:
            anonymous.close()
        return cls(url, record["token"]), record

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs):
        return self._answer(self.http.request(method, path, **kwargs))

    @staticmethod
    def _answer(response: httpx.Response):
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:500]}
            raise EcoError(response.status_code, body)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        page = self._call("GET", path, params={**params, "page_size": 100})
        while True:
            yield from page["results"]
            if not page["next"]:
                return
            page = self._answer(self.http.get(page["next"]))

    # --- accounts ---
    def me(self) -> dict:
        return self._call("GET", "me/")

    def teams(self) -> list[dict]:
        return list(self._pages("teams/"))

    def create_team(self, slug: str, name: str) -> dict:
        return self._call("POST", "teams/", json={"slug": slug, "name": name})

    def invite_member(self, team: str, username: str, role: str) -> dict:
        """Invite `username` to `team` (admin role); they join by accepting. Returns {"detail"}."""
        return self._call("POST", f"teams/{team}/members/", json={"username": username, "role": role})

    def invitations(self) -> list[dict]:
        """Your pending invitations to teams."""
        return list(self._pages("invitations/"))

    def accept_invitation(self, invitation_id: str) -> dict:
        """Join the invitation's team; returns the membership."""
        return self._call("POST", f"invitations/{invitation_id}/accept/")

    # --- datasets ---
    def datasets(self, team: str | None = None, search: str | None = None) -> list[dict]:
        return list(self._pages("datasets/", {"team": team, "search": search}))

    def create_dataset(self, *, team: str, name: str, task: str, **fields) -> dict:
        return self._call("POST", "datasets/", json={"team": team, "name": name, "task": task, **fields})

    def versions(self, dataset: str) -> list[dict]:
        return list(self._pages(f"datasets/{dataset}/versions/"))

    def upload_version(
        self,
        dataset: str,
        path: str | Path,
        *,
        target: str,
        format: str | None = None,
        na_values: list[str] | None = None,
        delimiter: str | None = None,
        description: str = "",
    ) -> dict:
        """Stream a CSV, JSONL, NPZ or Parquet file up as the dataset's next version. `na_values` replaces the
        tokens that mean a missing feature value ([] : only empty cells); `delimiter` is CSV's (default ',')."""
        path = Path(path)
        data = {"target": target, "description": description}
        if format:
            data["format"] = format
        if na_values is not None:
            data["na_values"] = json.dumps(na_values)
        if delimiter:
            data["delimiter"] = delimiter
        with open(path, "rb") as fh:
            return self._call("POST", f"datasets/{dataset}/versions/", data=data, files={"file": (path.name, fh)})

    def builtin_version(self, dataset: str, builtin: str) -> dict:
        return self._call("POST", f"datasets/{dataset}/versions/", json={"builtin": builtin})

    def dataset_version(self, version: str) -> dict:
        return self._call("GET", f"dataset-versions/{version}/")

    def preview(self, version: str, limit: int = 20, offset: int = 0) -> dict:
        """Rows `offset` to `offset + limit` of a version, as training reads them."""
        return self._call("GET", f"dataset-versions/{version}/preview/", params={"limit": limit, "offset": offset})

    def download(self, version: str, destination: str | Path) -> Path:
        destination = Path(destination)
        partial = destination.with_name(destination.name + ".part")
        with self.http.stream("GET", f"dataset-versions/{version}/download/") as response:
            if response.status_code >= 400:
                response.read()
                self._answer(response)
            try:
                with open(partial, "wb") as fh:
                    for chunk in response.iter_bytes(1024 * 1024):
                        fh.write(chunk)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        partial.replace(destination)  # only a complete download takes the name
        return destination

    def lineage(self, version: str) -> dict:
        return self._call("GET", f"dataset-versions/{version}/lineage/")

    # --- models ---
    def models(
        self, team: str | None = None, search: str | None = None, weights_format: str | None = None
    ) -> list[dict]:
        """Models of your teams; `weights_format="hf"` keeps those with a Hugging Face checkpoint (base or
        fine-tuned)."""
        return list(self._pages("models/", {"team": team, "search": search, "weights_format": weights_format}))

    def model(self, model: str) -> dict:
        return self._call("GET", f"models/{model}/")

    def update_model(self, model: str, **fields) -> dict:
        """PATCH a model's name, description or card (Markdown); returns the model."""
        return self._call("PATCH", f"models/{model}/", json=fields)

    def model_versions(self, model: str) -> list[dict]:
        """A model's versions, newest first."""
        return list(self._pages(f"models/{model}/versions/"))

    def version_id(self, model: str, ref: str | int) -> str:
        """The id of the model's version `ref`: an id as it is, or a number (3, "3" or "v3"). EcoError 404 when
        the model has no such version."""
        text = str(ref)
        if _is_uuid(text):
            return text
        number = text[1:] if text[:1] in ("v", "V") else text
        if not number.isdigit():
            detail = f"{ref!r} is neither a version number (3 or v3) nor a version id."
            raise EcoError(400, {"status": 400, "code": "invalid", "detail": detail})
        for version in self.model_versions(model):
            if version["version"] == int(number):
                return version["id"]
        raise EcoError(404, {"status": 404, "code": "not_found", "detail": f"The model has no version {number}."})

    def dataset(self, dataset: str) -> dict:
        return self._call("GET", f"datasets/{dataset}/")

    def delete_dataset(self, dataset: str) -> None:
        """Soft-delete a data set (maintainer role; restorable by staff within the retention period)."""
        self._call("DELETE", f"datasets/{dataset}/")

    def resolve(self, kind: str, ref: str, *, team: str | None = None) -> str:
        """The id of the data set or model (`kind` "datasets" or "models") that `ref` names: an id is
        returned as it is; a name is looked up in your teams (in `team` only, when given).

        Raises EcoError 404 when no object has that name, and 409 (with `candidates`, "team/name id") when
        several teams have one."""
        if _is_uuid(ref):
            return ref
        found = [o for o in self._pages(f"{kind}/", {"team": team, "search": ref}) if o["name"] == ref]
        what = "data set" if kind == "datasets" else "model"
        where = f"team {team}" if team else "your teams"
        if not found:
            raise EcoError(404, {"status": 404, "code": "not_found", "detail": f"No {what} named {ref!r} in {where}."})
        if len(found) > 1:
            candidates = [f"{o['team']}/{o['name']} {o['id']}" for o in found]
            detail = f"{len(found)} {what}s are named {ref!r}; pick one with --team or an id: " + ", ".join(candidates)
            raise EcoError(409, {"status": 409, "code": "ambiguous", "detail": detail, "candidates": candidates})
        return found[0]["id"]

    def create_model(self, *, team: str, name: str, task: str, **fields) -> dict:
        return self._call("POST", "models/", json={"team": team, "name": name, "task": task, **fields})

    def register_version(
        self,
        model: str,
        weights: str | Path,
        spec: dict,
        *,
        metrics: dict | None = None,
        params: dict | None = None,
        dataset_versions: list[str] | None = None,
    ) -> dict:
        """Register externally trained safetensors weights with their architecture spec."""
        weights = Path(weights)
        data = {
            "spec": json.dumps(spec),
            "metrics": json.dumps(metrics or {}),
            "params": json.dumps(params or {}),
            "dataset_versions": dataset_versions or [],
        }
        with open(weights, "rb") as fh:
            return self._call("POST", f"models/{model}/versions/", data=data, files={"weights": (weights.name, fh)})

    def import_checkpoint(self, model: str, folder: str | Path, *, description: str = "") -> dict:
        """Import the Hugging Face checkpoint in `folder` (what save_pretrained writes) as the next version of
        `model` (an id; format `hf`). Only the files Eco keeps are sent, streamed from disk
        (`eco.formats.hf_file_role`: config.json, safetensors weights, tokenizer files). Raises
        eco.formats.RefusedFile before any request for code or pickle-only weights, EcoError with the server's
        400 for what it refuses (a model type it does not fine-tune, tensors that do not fit the config...)."""
        from contextlib import ExitStack

        from eco.formats import RefusedFile, hf_file_role, hf_refusal

        folder = Path(folder)
        names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if not folder.is_dir():
            raise RefusedFile(f"{folder} is not a folder")
        if refusal := hf_refusal(names):
            raise RefusedFile(refusal)
        kept = [n for n in names if hf_file_role(n) not in ("skip", "pickle")]
        with ExitStack() as stack:
            files = [("files", (n, stack.enter_context(open(folder / n, "rb")))) for n in kept]
            return self._call(
                "POST", f"models/{model}/versions/import/", data={"description": description}, files=files
            )

    def model_version(self, version: str) -> dict:
        return self._call("GET", f"model-versions/{version}/")

    def set_alias(self, model: str, alias: str, version: str, *, force: bool = False, reason: str = "") -> dict:
        """Point an alias at a version; a gate-protected alias answers 409 with the failed checks unless a
        team admin forces it."""
        body = {"alias": alias, "version": version, **({"force": True, "reason": reason} if force else {})}
        return self._call("POST", f"models/{model}/aliases/", json=body)

    def aliases(self, model: str) -> list[dict]:
        """A model's aliases: [{alias, version, version_number, updated_by, updated_at}], by name."""
        return list(self._pages(f"models/{model}/aliases/"))

    def delete_alias(self, model: str, alias: str) -> None:
        """Remove an alias (the version stays); a gate-protected one needs the maintainer role."""
        self._call("DELETE", f"models/{model}/aliases/{quote(alias, safe='')}/")

    def gate(self, model: str) -> dict:
        return self._call("GET", f"models/{model}/gate/")

    def set_gate(self, model: str, *, dataset_version: str, **policy) -> dict:
        """policy: metric, direction, split, min_gain, max_overlap, required_card_fields, aliases."""
        return self._call("PUT", f"models/{model}/gate/", json={"dataset_version": dataset_version, **policy})

    # --- serving and feedback ---
    def predict(self, model: str, inputs: list, *, alias: str | None = None, version=None, runtime: str = "auto"):
        """Predictions of the version an alias points at (or a version id or number)."""
        body = {"inputs": inputs, "runtime": runtime}
        body.update({"alias": alias} if version is None else {"version": version})
        if alias is None and version is None:
            body["alias"] = "production"
        return self._call("POST", f"models/{model}/predict/", json=body)

    def feedback(self, prediction: str, label) -> dict:
        return self._call("POST", f"predictions/{prediction}/feedback/", json={"label": label})

    def predictions(self, *, model: str | None = None, has_feedback: bool | None = None) -> list[dict]:
        flag = None if has_feedback is None else str(has_feedback).lower()
        return list(self._pages("predictions/", {"model": model, "has_feedback": flag}))

    # --- retrain triggers ---
    def create_trigger(self, *, team: str, model: str, base_dataset_version: str, **fields) -> dict:
        """fields: min_feedback, train (a train spec less dataset_version and model), promote_if, name."""
        body = {"team": team, "model": model, "base_dataset_version": base_dataset_version, **fields}
        return self._call("POST", "triggers/", json=body)

    def triggers(self, team: str | None = None) -> list[dict]:
        return list(self._pages("triggers/", {"team": team}))

    def trigger_runs(self, trigger: str) -> list[dict]:
        return list(self._pages(f"triggers/{trigger}/runs/"))

    def fire_trigger(self, trigger: str) -> dict:
        return self._call("POST", f"triggers/{trigger}/fire/")

    # --- jobs ---
    def submit_job(
        self,
        *,
        team: str,
        kind: str,
        spec: dict,
        priority: int = 0,
        resources: dict | None = None,
        max_retries: int = 0,
        timeout_s: int | None = None,
    ) -> dict:
        body = {
            "team": team,
            "kind": kind,
            "spec": spec,
            "priority": priority,
            "resources": resources or {},
            "max_retries": max_retries,
            "timeout_s": timeout_s,
        }
        return self._call("POST", "jobs/", json=body)

    def train(self, *, team: str, dataset_version: str, model: str, architecture: str | None = None, **spec) -> dict:
        """Submit a train job: `model` is a model id or the name of a (new) model."""
        spec = {"dataset_version": dataset_version, "model": model, **spec}
        if architecture:
            spec["architecture"] = architecture
        return self.submit_job(team=team, kind="train", spec=spec)

    def jobs(
        self,
        *,
        team: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        experiment: str | None = None,
    ) -> list[dict]:
        """Jobs, newest first; `experiment` an experiment's id or name (MLflow's runs)."""
        return list(self._pages("jobs/", {"team": team, "status": status, "kind": kind, "experiment": experiment}))

    def job(self, job: str) -> dict:
        return self._call("GET", f"jobs/{job}/")

    def cancel_job(self, job: str) -> dict:
        return self._call("POST", f"jobs/{job}/cancel/")

    def wait(self, job: str, *, timeout: float = 3600, poll: float = 1.0) -> dict:
        """Block until the job succeeds, fails or is cancelled; returns it (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.job(job)
            if record["status"] in ("succeeded", "failed", "cancelled"):
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} is still {record['status']} after {timeout:g} s")
            time.sleep(poll)

    def logs(self, job: str, *, after: int = 0) -> dict:
        return self._call("GET", f"jobs/{job}/logs/", params={"after": after})

    def metric_keys(self, job: str) -> list[dict]:
        return self._call("GET", f"jobs/{job}/metrics/")["keys"]

    def metric(self, job: str, key: str, *, max_points: int = 1000, after_step: int | None = None) -> dict:
        """One series: {key, count, total, downsampled, truncated, points: [[step, value], ...], times: [epoch s]}.
        `max_points=0` for every point; with `after_step`, the exact points past that step (at most max_points)."""
        params = {
            "key": key,
            "max_points": max_points,
            **({"after_step": after_step} if after_step is not None else {}),
        }
        return self._call("GET", f"jobs/{job}/metrics/", params=params)

    def metric_points(
        self, job: str, key: str, *, page: int = 100_000
    ) -> Iterator[tuple[int, float | None, float]]:
        """Every point of one series as (step, value, epoch seconds recorded), in step order, read `page`
        points per request (so a series of millions never sits in one answer); a value is None where it is NaN
        or infinite (logged through MLflow)."""
        after = -1
        while True:
            answer = self.metric(job, key, max_points=page, after_step=after)
            yield from ((s, v, t) for (s, v), t in zip(answer["points"], answer["times"], strict=True))
            if not answer["truncated"] or not answer["points"]:
                return
            after = answer["points"][-1][0]

    def log_metrics(self, job: str, points: list[dict]) -> dict:
        """Batch ingest [{key, step, value}, ...] (for runs outside Eco's workers); idempotent."""
        return self._call("POST", f"jobs/{job}/metrics/", json={"points": points})

    def evaluations(self, *, model_version: str | None = None, dataset_version: str | None = None) -> list[dict]:
        params = {"model_version": model_version, "dataset_version": dataset_version}
        return list(self._pages("evaluations/", params))
