"""The local runtime as a real subprocess on a free loopback port, as a user starts it."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatstate.config import CONFIG_KEYS

TELEGRAM_TOKEN = "123456:TEST-telegram-token"
TELEGRAM_SECRET = "test-webhook-secret_0123"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TOKEN = "xoxb-test-slack-token"
BOT_USERNAME = "my_bot"
GITHUB_SECRET = "github-webhook-secret-0123"
GITHUB_TOKEN = "ghp_testGitHubToken0123456789"
GITHUB_LOGIN = "chatstate-bot"
GITHUB_APP_ID = "424242"


def _app_key() -> tuple[str, bytes]:
    """A GitHub App's key pair, as GitHub hands out its private key (PKCS#1 PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


GITHUB_APP_PRIVATE_KEY, GITHUB_APP_PUBLIC_KEY = _app_key()
WHATSAPP_VERIFY_TOKEN = "whatsapp-verify-token-0123"
WHATSAPP_APP_SECRET = "whatsapp-app-secret-0123456789"
WHATSAPP_TOKEN = "EAAGtestWhatsAppAccessToken0123"
WHATSAPP_PHONE_ID = "106540352242922"
# A fixed test key pair (the private half signs the tests' interactions: support.discord).
DISCORD_PRIVATE_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
DISCORD_PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
DISCORD_APPLICATION_ID = "1150000000000000001"
DISCORD_BOT_TOKEN = "MTE1MDAwMDAwMDAwMDAwMDAwMQ.test.discord-bot-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    health_path = "/health"
    # What the health check answers once the server is up (a misconfigured one answers 500).
    healthy_status = 200
    # RLIMIT_NOFILE for the server process (`ulimit -n`), or None to inherit.
    open_files_limit: int | None = None
    # The bot project it serves: this repository's example bot unless a test says otherwise.
    project = Path(__file__).resolve().parents[2]

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
            "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_BOT_LOGIN": GITHUB_LOGIN,
            "GITHUB_API_BASE": f"{api_base}/github",
            "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
            "WHATSAPP_APP_SECRET": WHATSAPP_APP_SECRET,
            "WHATSAPP_ACCESS_TOKEN": WHATSAPP_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": WHATSAPP_PHONE_ID,
            "WHATSAPP_API_BASE": f"{api_base}/graph",
            "DISCORD_PUBLIC_KEY": DISCORD_PUBLIC_KEY,
            "DISCORD_APPLICATION_ID": DISCORD_APPLICATION_ID,
            "DISCORD_BOT_TOKEN": DISCORD_BOT_TOKEN,
            "DISCORD_API_BASE": f"{api_base}/discord",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chatstate", "run", "--project", str(self.project)],
                env=self.env,
                stdout=log,
                stderr=log,
                preexec_fn=self._limit_open_files,
            )
        return self.wait_healthy(timeout_s=30)

    def _limit_open_files(self) -> None:
        if self.open_files_limit is not None:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (self.open_files_limit, self.open_files_limit)
            )

    def open_files(self) -> int:
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def wait_healthy(self, timeout_s: float) -> LocalServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                health = httpx.get(f"{self.url}{self.health_path}", timeout=30)
                if health.status_code == self.healthy_status:
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


REPO = Path(__file__).resolve().parents[2]
WORKERD_TOOLS = REPO.parent / "shared" / "tools" / "workerd-python"
WRANGLER_OPT_IN = "CHATSTATE_E2E_WRANGLER"
CONFORMANCE_PROBE = REPO / "tests" / "conformance" / "probe"


def workerd_skip_reason() -> str | None:
    """Why the workerd tier cannot run here, or None when it can."""
    if WORKERD_TOOLS.is_dir() or os.environ.get(WRANGLER_OPT_IN) == "1":
        return None
    return (
        f"no workerd: {WORKERD_TOOLS} is missing and {WRANGLER_OPT_IN}=1 is not set "
        "(plain `npx wrangler dev` needs internet for the Pyodide bundle)"
    )


def prepare_workerd() -> None:
    """Build the offline Pyodide bundle and vendor the `workers` SDK (fast when done before)."""
    if WORKERD_TOOLS.is_dir():
        subprocess.run(
            [WORKERD_TOOLS / "build-bundle.sh"], cwd=REPO, check=True, capture_output=True
        )
        for worker in (REPO, CONFORMANCE_PROBE):
            subprocess.run(
                [WORKERD_TOOLS / "vendor-sdk.sh", worker], check=True, capture_output=True
            )


class WranglerServer(LocalServer):
    """The same Worker under `wrangler dev` on the real workerd, Durable Objects included.

    Uses the shared offline tooling when it exists, else `npx wrangler dev` (needs internet).
    Its whole process group is signalled: wrangler, workerd and the tooling's wrappers.
    """

    # Another Worker than the project's (the conformance probe), by its wrangler config.
    config: Path | None = None

    @property
    def do_storage(self) -> Path:
        return self.data_dir / "v3" / "do"

    def start(self) -> LocalServer:
        env_file = self.log_path.with_suffix(".env")
        env_file.write_text("".join(f"{n}={self.env[n]}\n" for n in CONFIG_KEYS if n in self.env))
        runner = (
            [str(WORKERD_TOOLS / "wrangler-dev.sh")]
            if WORKERD_TOOLS.is_dir()
            else ["npx", "--yes", "wrangler@4", "dev"]
        )
        command = [
            *runner,
            "--port",
            str(self.port),
            "--ip",
            "127.0.0.1",
            "--inspector-port",
            str(free_port()),
            "--persist-to",
            str(self.data_dir),
            "--env-file",
            str(env_file),
            "--show-interactive-dev-session=false",
            *(["--config", str(self.config)] if self.config else []),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.project,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        # Cold start is 10-15 s on 2 cores (no memory snapshot locally).
        return self.wait_healthy(timeout_s=180)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        assert self.process is not None
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        # workerd may outlive wrangler briefly; nothing of this server may linger.
        self._signal_group(signal.SIGKILL)


API_TOKEN = "test-api-token-0123456789"


def start_api_server(request: pytest.FixtureRequest, directory: Path, **env: str) -> LocalServer:
    """The runtime `request.param` names, with the conversations API on and no platform."""
    if request.param == "workerd":
        request.getfixturevalue("workerd_ready")
    kind = WranglerServer if request.param == "workerd" else LocalServer
    no_platforms = dict.fromkeys(
        (
            "TELEGRAM_BOT_TOKEN",
            "TELEGRAM_WEBHOOK_SECRET",
            "SLACK_SIGNING_SECRET",
            "SLACK_BOT_TOKEN",
        ),
        "",
    )
    server = kind(
        directory / "data",
        "http://127.0.0.1:9",
        directory / "server.log",
        **no_platforms,
        CHAT_API_TOKEN=API_TOKEN,
        **env,
    )
    return server.start()
