"""``hub serve --processes N``: the API in N processes on one port and the workers in one more.

This process is the supervisor. It upgrades the schema (and makes the embedded deployment's key
file) once, before anything else starts; sets up the directory the processes share their
Prometheus counters through; starts ``hub worker`` (started again if it exits on its own); and
hands the port to uvicorn's own supervisor, whose N API processes each call
``hub.api.app:api_process_app``. SIGTERM or Ctrl-C stops them all, each finishing what it has in
hand and closing its hub.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from hub.bootstrap import bootstrap
from hub.metrics import MULTIPROCESS_DIR, multiprocess_dir, process_ended
from hub.settings import Settings

log = logging.getLogger(__name__)

WORKER_RESTART_SECONDS = 5.0
WORKER_STOP_SECONDS = 60.0
# an API process that does not answer the supervisor's ping for this long is taken as hung and
# replaced (uvicorn's default of 5 s replaces processes still starting on a busy machine)
API_HEALTHCHECK_SECONDS = 30
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class WorkerProcess:
    """``hub worker`` beside the API processes, with this environment; started again
    ``WORKER_RESTART_SECONDS`` after it exits unless it was asked to stop."""

    def __init__(self, verbose: bool):
        self.command = [sys.executable, "-m", "hub.cli", "worker", *(["--verbose"] if verbose else [])]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.process = self._start()
        self._watch = threading.Thread(target=self._watching, name="hub-worker-process", daemon=True)
        self._watch.start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(self.command)  # noqa: S603 - this interpreter, this package

    def _watching(self) -> None:
        while True:
            ended = self.process
            code = ended.wait()
            if self._stopping.is_set():
                return
            process_ended(ended.pid)
            log.error("the workers' process exited (%s); starting it again in %.0f s", code,
                      WORKER_RESTART_SECONDS)
            if self._stopping.wait(WORKER_RESTART_SECONDS):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process_ended(process.pid)
        self._watch.join(5)


def serve_processes(settings: Settings, host: str, port: int, count: int, *, workers: bool,
                    migrate: bool, verbose: bool) -> None:
    import uvicorn

    bootstrap(settings, migrate=migrate).close()
    made = None
    shared = multiprocess_dir()
    if shared is None:
        made = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="hub-metrics-")
    else:  # an earlier run's counters would be added to this run's
        for left in Path(shared).glob("*.db"):
            left.unlink()
    worker = WorkerProcess(verbose) if workers else None
    try:
        uvicorn.run("hub.api.app:api_process_app", factory=True, workers=count, host=host, port=port,
                    log_level="info" if verbose else "warning", log_config=logging_config(verbose),
                    timeout_worker_healthcheck=API_HEALTHCHECK_SECONDS)
    finally:
        if worker:
            worker.stop()
        if made:
            shutil.rmtree(made, ignore_errors=True)


def logging_config(verbose: bool) -> dict:
    """uvicorn's logging, and the hub's own records in each API process in the hub's format."""
    from uvicorn.config import LOGGING_CONFIG

    config = {**LOGGING_CONFIG, "formatters": {**LOGGING_CONFIG["formatters"]},
              "handlers": {**LOGGING_CONFIG["handlers"]}}
    config["formatters"]["hub"] = {"format": LOG_FORMAT}
    config["handlers"]["hub"] = {"formatter": "hub", "class": "logging.StreamHandler",
                                 "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["hub"], "level": "DEBUG" if verbose else "INFO"}
    return config
