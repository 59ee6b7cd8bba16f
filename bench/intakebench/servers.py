"""The two servers under test, each a uvicorn subprocess with one worker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import LOCALHOST, NO_PROXY


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOCALHOST, 0))
            port = sock.getsockname()[1]
        if port not in (4222, 5432, 6222, 8222, 8000, 8001):
            return port


class UvicornServer:
    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        *,
        ready_path: str,
        app_dir: Path | None = None,
        log_dir: Path,
        launcher: str = "uvicorn",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.ready_path = ready_path
        self.argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            LOCALHOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
        ]
        if app_dir is not None:
            self.argv[3:3] = ["--app-dir", str(app_dir)]
        if launcher == "sprakvan":  # how the Dockerfile runs a service: `sprakvan serve NAME`
            self.argv = [
                sys.executable,
                "-m",
                "sprakvan_cli.main",
                "serve",
                name,
                "--host",
                LOCALHOST,
                "--port",
                str(self.port),
            ]
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": LOCALHOST, "PYTHONUNBUFFERED": "1"}
        self.env.pop("WEB_CONCURRENCY", None)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        url = f"http://{LOCALHOST}:{self.port}{self.ready_path}"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(urllib.error.URLError, OSError):
                with NO_PROXY.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # uvicorn: graceful, runs the lifespan shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
