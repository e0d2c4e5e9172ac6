"""The sequence jobs of one server: accepted (checked, stored), run one at a time in a background
thread, reported, interrupted, and their maps zipped.

One at a time because a sequence keeps one depth model busy for minutes and a host holds one model
(the registry releases the others); a second job waits in the queue. The worker is a daemon thread:
stopping the server does not wait for a job, and what it leaves is complete files, which the same
upload POSTed again resumes from (`sequence_input`). The jobs table is in memory: after a restart an
old id is unknown (404) until its upload is POSTed again, which gives the same id.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..depth.errors import DepthError, internal_error
from .models import SequenceOptions
from .sequence_input import (
    JobFolder,
    content_hash,
    job_key,
    keep_upload,
    list_zip_frames,
    probe_video,
    safe_name,
    unpack_frames,
)
from .sequence_run import VIDEO_NAME, Interrupted, Progress, SequenceWork, image_input, run_work
from .uploads import ApiError, ApiLimits, Upload
from .work import SettingsFn, depth_options

#: how much a zip's frames may unpack to, in uploads: EXR and PNG frames are compressed already
UNPACK_FACTOR = 4
FINISHED = ("done", "failed", "interrupted")


@dataclass(kw_only=True)
class SequenceTask:
    """One job: its work, its state and its progress."""

    id: str
    work: SequenceWork
    state: str = "queued"
    message: str | None = None
    progress: Progress = field(default_factory=Progress)

    def status(self) -> dict[str, Any]:
        p = self.progress
        result = self.work.folder.result
        return {"id": self.id, "state": self.state, "stage": p.stage, "file": self.work.label, "frames": p.frames,
                "estimated": p.estimated, "done": p.done, "converted": p.converted, "skipped": p.skipped,
                "failed": len(p.errors), "errors": list(p.errors), "gaps": list(p.gaps), "message": self.message,
                "result": f"{self.id}/result" if self.state in FINISHED and result.is_file() else None}


def relabeller(folder: JobFolder) -> Callable[[str], str]:
    """Messages name the frame (`render_0003.exr: ...`), never the server's folders."""
    def relabel(text: str) -> str:
        for inner in sorted({str(p) for p in folder.maps.glob(".depth-tools/frames-*")}, key=len, reverse=True):
            text = text.replace(f"{inner}{os.sep}", "")
        return text.replace(f"{folder.frames}{os.sep}", "").replace(str(folder.root), "the job folder")
    return relabel


def write_result(task: SequenceTask, finished: bool) -> None:
    """The maps written (or found up to date), in frame order, and (a job that `finished`) its depth video."""
    folder = task.work.folder
    maps = task.progress.maps()
    video = folder.root / VIDEO_NAME
    if task.work.options.video_out and video.is_file() and finished:
        maps.append(video)
    if not maps:
        folder.result.unlink(missing_ok=True)
        return
    partial = folder.result.with_name(".result.zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:  # PNG and H.264 are compressed already
        for path in maps:
            archive.write(path, path.name)
    os.replace(partial, folder.result)


class SequenceJobs:
    """The server's jobs, by id, and the one thread that runs them."""

    def __init__(self, root: Path, settings_fn: SettingsFn, limits: ApiLimits,
                 after: Callable[[], None] | None = None) -> None:
        self.root, self.settings_fn, self.limits, self.after = root, settings_fn, limits, after
        self.tasks: dict[str, SequenceTask] = {}
        self.lock = threading.Lock()
        self.queue: queue.Queue[SequenceTask] = queue.Queue()
        self.worker: threading.Thread | None = None

    def submit(self, upload: Upload, options: SequenceOptions) -> SequenceTask:
        """Check and store the upload, then queue its job (or answer the same job already queued or
        running). DepthError for a bad upload or option, WeightsError for a model without weights."""
        work = self._checked(upload, options)
        key = work.folder.root.name.removeprefix("seq-")
        with self.lock:
            running = self.tasks.get(key)
            if running is not None and running.state not in FINISHED:
                return running
            task = SequenceTask(id=key, work=work, progress=Progress(relabel=relabeller(work.folder)))
            self.tasks[key] = task
            self._start()
        self.queue.put(task)
        return task

    def _checked(self, upload: Upload, options: SequenceOptions) -> SequenceWork:
        """The job's work, its upload stored and a zip unpacked; a refused upload leaves no folder behind."""
        depth = depth_options(options, options.background_above)  # OptionsError (422) before anything is stored
        name = safe_name(upload.filename)
        folder = JobFolder(root=self.root / f"seq-{job_key(content_hash(upload.path), name, options)}", name=name)
        new = not folder.root.exists()
        try:
            keep_upload(upload.path, folder)
            if folder.is_zip:
                unpack_frames(folder, upload.filename, UNPACK_FACTOR * self.limits.max_upload_bytes)
                _, images = list_zip_frames(folder, upload.filename)
            else:
                probe_video(folder.upload, upload.filename)
                images = True
            image, model_settings = image_input(options, self.settings_fn) if images else (None, None)
        except OSError as exc:  # the server's disk (full, not writable): a 507 in one line, not a bare 500
            if new:
                shutil.rmtree(folder.root, ignore_errors=True)
            raise ApiError(507, f"cannot store the upload for its job ({exc.strerror or exc})") from None
        except BaseException:
            if new:
                shutil.rmtree(folder.root, ignore_errors=True)
            raise
        return SequenceWork(folder=folder, label=upload.filename, options=options, depth=depth, image=image,
                            model_settings=model_settings, max_pixels=self.limits.max_pixels)

    def _start(self) -> None:
        if self.worker is None or not self.worker.is_alive():
            self.worker = threading.Thread(target=self._serve, name="depth-tools-sequence", daemon=True)
            self.worker.start()

    def get(self, job_id: str) -> SequenceTask:
        task = self.tasks.get(job_id)
        if task is None:
            raise ApiError(404, f"no sequence job {job_id!r} on this server (after a restart, POST the same upload "
                                "with the same options again: it resumes under the same id)")
        return task

    def interrupt(self, job_id: str) -> SequenceTask:
        """Ask the job to stop after the frame in hand (a queued job never starts)."""
        task = self.get(job_id)
        task.progress.stop.set()
        return task

    def result(self, job_id: str) -> Path:
        task = self.get(job_id)
        if task.state not in FINISHED:
            raise ApiError(409, f"the job is {task.state} ({task.progress.done} of {task.progress.frames} frames): "
                                "ask for its result once it has stopped")
        if not task.work.folder.result.is_file():
            raise ApiError(404, f"the job wrote no maps ({task.message or 'every frame failed'})")
        return task.work.folder.result

    def _serve(self) -> None:
        while True:
            self.run(self.queue.get())

    def run(self, task: SequenceTask) -> None:
        """One job, start to end; whatever happens, a state and at most one line, never a dead worker.
        The state changes last, once the result zip is written: a client that sees it finished can fetch it."""
        state, message = "interrupted", None
        if not task.progress.stop.is_set():
            task.state = "running"
            state, message = self._attempt(task)
        try:
            write_result(task, state == "done")
        except OSError as exc:
            state, message = "failed", f"cannot write the result zip ({exc.strerror})"
        task.progress.stage = "finished"
        task.message, task.state = message, state

    def _attempt(self, task: SequenceTask) -> tuple[str, str | None]:
        try:
            run_work(task.work, task.progress)
            return "done", None
        except Interrupted:
            return "interrupted", None
        except DepthError as exc:
            return "failed", task.progress.relabel(str(exc))
        except Exception as exc:  # a bug, or memory: one line, and the next job still runs
            return "failed", task.progress.relabel(str(internal_error(exc)))
        finally:
            self._after()

    def _after(self) -> None:
        """The host's hook (the WebUI frees the model); its failure is logged, never the job's."""
        try:
            if self.after is not None:
                self.after()
        except Exception as exc:
            internal_error(exc, context="after a sequence job")
