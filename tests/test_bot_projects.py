"""Bot projects: `python -m chatstate new` writes one that depends on chatstate; its own two
commands (from its README) test it and serve it, from a wheel installed in a fresh venv, and the
same project runs as a Worker on workerd with the wheel vendored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatstate
from chatstate.__main__ import main
from chatstate.project.scaffold import TEMPLATE
from chatstate.testing.payloads import telegram_message_update
from support.e2e import post_telegram
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    REPO,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    WORKERD_TOOLS,
    LocalServer,
    WranglerServer,
)

DESIGN_CARD_FILES = ["src/entry.py", "src/state_agent.py", "src/sharding.py"]


def run_commands(readme: str) -> list[str]:
    """The commands of the README's "Run it" block, one per line."""
    block = re.search(r"## Run it\n.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None, "the README has no Run it block"
    return [line for line in block.group(1).splitlines() if line.strip()]


# --- writing a project --------------------------------------------------------------------------


def test_new_writes_a_project_with_the_design_cards_files(tmp_path: Path) -> None:
    main(["new", str(tmp_path / "My Bot")])
    project = tmp_path / "My Bot"
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted(
        [
            ".gitignore",
            "README.md",
            "pyproject.toml",
            "wrangler.jsonc",
            "src/bot.py",
            *DESIGN_CARD_FILES,
            "tests/test_bot.py",
        ]
    )
    assert ".dev.vars" in (project / ".gitignore").read_text().splitlines()
    assert (
        f'dependencies = ["chatstate=={chatstate.__version__}"]'
        in (project / "pyproject.toml").read_text()
    )
    assert '"name": "my-bot"' in (project / "wrangler.jsonc").read_text()


def test_the_generated_readme_has_two_commands_and_the_deploy_steps(tmp_path: Path) -> None:
    main(["new", str(tmp_path / "bot")])
    readme = (tmp_path / "bot" / "README.md").read_text()
    commands = run_commands(readme)
    assert len(commands) == 2
    assert commands[0].endswith("python -m chatstate run")
    assert commands[1].endswith("python -m pytest")
    for step in ("pywrangler deploy", "setWebhook", "Event Subscriptions", "wrangler secret put"):
        assert step in readme


def test_new_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as stopped:
        main(["new", str(tmp_path)])
    assert str(stopped.value) == (
        f"chatstate new: {tmp_path} is not an empty directory: choose a new path, "
        "or empty this one first"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_run_outside_a_project_stops_with_a_one_line_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatstate", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"chatstate run: no src/bot.py in {tmp_path.resolve()}: run this in a bot project "
        "(`python -m chatstate new PATH` makes one)"
    ]


@pytest.mark.parametrize("name", DESIGN_CARD_FILES)
def test_this_repository_is_an_app_made_of_the_same_thin_files(name: str) -> None:
    assert (REPO / name).read_text() == TEMPLATE.joinpath(f"{name}.tmpl").read_text()


def test_this_repositorys_wrangler_config_is_the_templates() -> None:
    template = TEMPLATE.joinpath("wrangler.jsonc.tmpl").read_text()
    assert (REPO / "wrangler.jsonc").read_text() == template.replace("__NAME__", "chatstate-bot")


# --- from a wheel, as a user installs it --------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    (built,) = wheels.glob("chatstate-*.whl")
    return built


@pytest.fixture(scope="module")
def generated(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project written by the wheel's own `new`, in a fresh venv that has only the wheel."""
    home = tmp_path_factory.mktemp("user")
    venv.create(home / "tools", with_pip=True)
    tools = home / "tools" / "bin" / "python"
    subprocess.run([tools, "-m", "pip", "install", "--quiet", wheel], check=True, timeout=300)
    subprocess.run([tools, "-m", "chatstate", "new", home / "mybot"], check=True, timeout=60)
    return home / "mybot"


def test_the_wheel_holds_the_whole_package_and_nothing_of_the_app(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("cloudflare/ingress.py", "local/serve.py", "testing/harness.py"):
        assert f"chatstate/{module}" in names
    assert "chatstate/project/template/src/bot.py.tmpl" in names
    assert not [n for n in names if n.split("/")[0] in ("bot.py", "entry.py", "sharding.py")]


@pytest.mark.e2e
def test_the_generated_projects_test_command_passes(generated: Path, wheel: Path) -> None:
    test_command = run_commands((generated / "README.md").read_text())[1]
    result = subprocess.run(
        ["bash", "-c", test_command],
        cwd=generated,
        env={**_user_env(), "PIP_FIND_LINKS": str(wheel.parent)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b3 passed\b", result.stdout)


class ReadmeServer(WranglerServer):
    """The generated project's own run command (its README's first), as a process group."""

    health_path = "/health"

    def start(self) -> LocalServer:
        command = run_commands((self.project / "README.md").read_text())[0]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.project,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        # The command installs the project's dependencies first.
        return self.wait_healthy(timeout_s=600)


@pytest.fixture
def fake_apis() -> Iterator[FakeApis]:
    fake = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    yield fake
    fake.stop()


@pytest.mark.e2e
def test_the_generated_projects_run_command_answers_a_signed_telegram_webhook(
    generated: Path, wheel: Path, fake_apis: FakeApis, tmp_path: Path
) -> None:
    server = ReadmeServer(
        tmp_path / "data",
        fake_apis.base,
        tmp_path / "server.log",
        PIP_FIND_LINKS=str(wheel.parent),
    )
    server.project = generated
    server.start()
    try:
        answer = post_telegram(
            server, telegram_message_update(-100777, "hi", bot_username=BOT_USERNAME)
        )
        assert answer.status_code == 200
        (sent,) = fake_apis.wait_for("sendMessage", 1)
        assert sent["text"] == "hi Ann! I'm listening here."
    finally:
        server.stop()


@pytest.mark.e2e
def test_the_generated_project_runs_on_workerd_with_the_wheel_vendored(
    generated: Path, wheel: Path, fake_apis: FakeApis, tmp_path: Path, workerd_ready: None
) -> None:
    subprocess.run([WORKERD_TOOLS / "vendor-sdk.sh", generated], check=True, capture_output=True)
    zipfile.ZipFile(wheel).extractall(generated / "python_modules")
    if (REPO / "node_modules" / "wrangler").is_dir():
        # The wrangler the repository's own workerd tests installed: no second download.
        (generated / "node_modules").symlink_to(REPO / "node_modules")
    server = WranglerServer(tmp_path / "data", fake_apis.base, tmp_path / "server.log")
    server.project = generated
    server.start()
    try:
        update = telegram_message_update(-100888, "hi", bot_username=BOT_USERNAME)
        assert post_telegram(server, update).status_code == 200
        (sent,) = fake_apis.wait_for("sendMessage", 1)
        assert sent["text"] == "hi Ann! I'm listening here."
        # The parent object and the shard are the generated project's own classes.
        objects = {p.name for p in server.do_storage.iterdir()}
        assert {"mybot-ChatMessenger", "mybot-ChatSdkStateAgent"} <= objects
    finally:
        server.stop()


def _user_env() -> dict[str, str]:
    """The environment a user's shell would have: no trace of this repository's venv."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("PYTEST")
    }
