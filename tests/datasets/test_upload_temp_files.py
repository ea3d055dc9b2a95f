"""Temporary files of interrupted uploads: the reaper removes those no one wrote to for
ECO_UPLOAD_TMP_MAX_AGE_S that no live upload holds, and nothing else in FILE_UPLOAD_TEMP_DIR."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.management import call_command

from datasets_app.uploads import remove_stale_temp_files

HOUR = 3600


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _upload_temp(folder: Path, name: str = "tmpabc123.upload.csv", age: float = 2 * HOUR) -> Path:
    path = folder / name
    path.write_bytes(b"a,b\n1,2\n")
    return _age(path, age)


def test_only_stale_upload_files_that_no_one_holds_are_removed(settings):
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    stale = _upload_temp(folder)
    stale_npz = _upload_temp(folder, "tmpxyz.upload.npz")
    fresh = _upload_temp(folder, "tmpfresh.upload.csv", age=60)
    blob_copy = _upload_temp(folder, "tmpcopy.blob")  # a job's copy of a remote blob: not an upload
    scratch = folder / "tmpjobdir"  # a job's scratch folder (a long training run may own it for hours)
    scratch.mkdir()
    _upload_temp(scratch, "inner.upload.csv")
    _age(scratch, 2 * HOUR)
    live = TemporaryUploadedFile("live.csv", "text/csv", 0, None)  # a live upload in this process
    live.write(b"a,b\n")
    live.flush()
    _age(Path(live.temporary_file_path()), 2 * HOUR)  # stalled, but still held open

    assert remove_stale_temp_files(HOUR) == 2
    assert not stale.exists() and not stale_npz.exists()
    assert fresh.exists() and blob_copy.exists() and (scratch / "inner.upload.csv").exists()
    assert Path(live.temporary_file_path()).exists()
    live.close()  # Django removes a finished upload's file itself
    assert remove_stale_temp_files(HOUR) == 0


def test_a_file_left_by_a_killed_upload_process_goes_once_that_process_is_gone(settings, tmp_path):
    """Another process (a web worker) holds an upload's file: kept while it lives, removed once it is killed."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    script = (
        "import sys, time, tempfile\n"
        "f = tempfile.NamedTemporaryFile(suffix='.upload.csv', dir=sys.argv[1], delete=True)\n"
        "f.write(b'x' * 1000); f.flush(); print(f.name, flush=True); time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        path = Path(child.stdout.readline().strip())
        _age(path, 2 * HOUR)
        assert remove_stale_temp_files(HOUR) == 0 and path.exists()
    finally:
        child.send_signal(signal.SIGKILL)  # no chance to remove its file
        child.wait(timeout=10)
        child.stdout.close()
    assert path.exists()
    assert remove_stale_temp_files(HOUR) == 1 and not path.exists()


@pytest.mark.django_db(transaction=True)  # the command closes connections between rounds
def test_the_reaper_removes_stale_upload_files_each_round(settings):
    settings.ECO_UPLOAD_TMP_MAX_AGE_S = 600
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    stale, recent = _upload_temp(folder, age=601), _upload_temp(folder, "tmpnew.upload.csv", age=599)
    call_command("reap_jobs")
    assert not stale.exists() and recent.exists()
