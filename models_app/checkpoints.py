"""A stored Hugging Face checkpoint (a model version of format `hf`) as a folder on local disk, for the
libraries that read checkpoints from folders (transformers, tokenizers, peft)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.conf import settings

from datasets_app import blobs
from models_app.models import ModelVersion, WeightsFormat


@contextmanager
def local_folder(version: ModelVersion) -> Iterator[Path]:
    """A temporary folder holding the version's files under their names: links to the stored blobs on local
    disk, or downloads of remote (S3) ones; removed afterwards. A LoRA adapter stored on its base (an hf
    version whose spec has `adapter`) comes merged: the folder holds the checkpoint it makes of its base
    (`ml.finetune.merge_adapter`, a few seconds). ValueError for a version without files (an hf checkpoint has
    them, and so has its ONNX export: the graph beside the tokenizer's files)."""
    if version.format != WeightsFormat.HF and not version.files.exists():
        raise ValueError(f"version {version.pk} is one {version.format} file, not a folder of files")
    adapter = version.spec.get("adapter") if version.format == WeightsFormat.HF else None
    if not adapter:
        with _linked(version) as folder:
            yield folder
        return
    from ml.finetune import merge_adapter

    if version.parent is None:
        raise ValueError(f"version {version.pk} is an adapter without its base version")
    with (
        local_folder(version.parent) as base,
        _linked(version) as own,
        tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as merged,
    ):
        merge_adapter(base, own, merged, adapter)
        yield Path(merged)


@contextmanager
def _linked(version: ModelVersion) -> Iterator[Path]:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR)))
        for entry in version.files.select_related("blob"):
            (folder / entry.name).symlink_to(stack.enter_context(blobs.local_copy(entry.blob)))
        yield folder


@contextmanager
def local_files(version: ModelVersion) -> Iterator[tuple[str, Path | None]]:
    """(the version's own file on local disk, the folder of its files or None): what
    `ml.runtimes.load_runtime` takes as `path` and `folder`. A version of one file has no folder."""
    with blobs.local_copy(version.blob) as path:
        if not version.files.exists():
            yield path, None
            return
        with local_folder(version) as folder:
            yield path, folder


def runtime_of(version: ModelVersion, *, threads: int = 1):
    """The version loaded by `ml.runtimes.load_runtime` (the files are needed only while loading)."""
    from ml.runtimes import load_runtime

    with local_files(version) as (path, folder):
        return load_runtime(version.format, version.spec, path, threads=threads, folder=folder)
