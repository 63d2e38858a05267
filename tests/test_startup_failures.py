"""A local runtime that cannot start stops, with its cause: it never serves half started."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatstate.state.backends.sqlite_files import state_file_name
from support.fake_kv_api import ACCOUNT_ID, NAMESPACE_ID, FakeKvApi
from support.local_server import REPO, free_port

pytestmark = pytest.mark.e2e


def start(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m chatstate run` in the example app; it must stop by itself."""
    return subprocess.run(
        [sys.executable, "-m", "chatstate", "run"],
        cwd=REPO,
        env={**os.environ, "PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def kv_api() -> Iterator[FakeKvApi]:
    fake = FakeKvApi().start()
    yield fake
    fake.stop()


def test_a_corrupt_state_file_stops_the_start_with_its_traceback(tmp_path: Path) -> None:
    shards = tmp_path / "data" / "shards"
    shards.mkdir(parents=True)
    (shards / state_file_name(0)).write_bytes(b"not a database " * 512)
    result = start(CHAT_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "DatabaseError: file is not a database" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
    assert "chat runtime ready" not in result.stderr


def test_a_kv_token_the_api_refuses_stops_the_start_and_stays_secret(
    tmp_path: Path, kv_api: FakeKvApi
) -> None:
    refused_token = "kv-token-the-api-refuses-123456"
    result = start(
        CHAT_DATA_DIR=str(tmp_path / "data"),
        CHAT_STATE="kv",
        CLOUDFLARE_ACCOUNT_ID=ACCOUNT_ID,
        CHAT_KV_NAMESPACE_ID=NAMESPACE_ID,
        CLOUDFLARE_API_TOKEN=refused_token,
        CLOUDFLARE_API_BASE=kv_api.base,
    )
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "403" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
    assert refused_token not in result.stderr + result.stdout


def test_a_data_directory_that_is_a_file_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file")
    result = start(CHAT_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"chatstate run: cannot use CHAT_DATA_DIR {tmp_path / 'data'}: File exists"
    ]
