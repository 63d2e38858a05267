"""The local runtime as a real subprocess on a free loopback port, as a user starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chatstate.config import CONFIG_KEYS

TELEGRAM_TOKEN = "123456:TEST-telegram-token"
TELEGRAM_SECRET = "test-webhook-secret_0123"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TOKEN = "xoxb-test-slack-token"
BOT_USERNAME = "my_bot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    def __init__(self, data_dir: Path, api_base: str, log_path: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "CHAT_DATA_DIR": str(data_dir),
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TELEGRAM_API_BASE": api_base,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_BASE": f"{api_base}/api",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chatstate.local"], env=self.env, stdout=log, stderr=log
            )
        return self.wait_healthy(timeout_s=30)

    def wait_healthy(self, timeout_s: float) -> LocalServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


WRANGLER_OPT_IN = "CHATSTATE_E2E_WRANGLER"
REPO = Path(__file__).resolve().parents[2]


class WranglerServer(LocalServer):
    """The same bot under `pywrangler dev` (opt-in: it needs the Pyodide bundle download)."""

    def start(self) -> LocalServer:
        variables = [f"--var={n}:{self.env[n]}" for n in CONFIG_KEYS if n in self.env]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "uv",
                    "run",
                    "pywrangler",
                    "dev",
                    "--port",
                    str(self.port),
                    "--persist-to",
                    str(self.data_dir),
                    *variables,
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        # The first start downloads workerd's Pyodide bundle.
        return self.wait_healthy(timeout_s=300)
