"""A GitHub App instead of a token: installation tokens minted from the App's key (RS256 JWTs
through WebCrypto on workerd, `cryptography` locally), kept until near expiry, end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from chatstate.chat.content import Reply
from chatstate.config import BotConfig, ConfigError
from chatstate.local.signing import CryptographyRsaSigner
from chatstate.platforms.github import GitHubPlatform
from chatstate.platforms.github_app import GitHubAppAuth, pkcs8_der
from chatstate.testing.payloads import github_issue_comment
from chatstate.testing.platform_apis import GITHUB_PATH, InProcessHttp, PlatformApis
from support.e2e import post_github
from support.fake_apis import FakeApis
from support.local_server import (
    GITHUB_APP_ID,
    GITHUB_APP_PRIVATE_KEY,
    GITHUB_APP_PUBLIC_KEY,
    GITHUB_LOGIN,
    LocalServer,
)

REPO = "octo-org/hello-world"
BASE = "http://fake"


def test_a_pkcs1_key_becomes_the_same_pkcs8_key_cryptography_writes() -> None:
    pkcs1 = GITHUB_APP_PRIVATE_KEY  # as GitHub hands it out
    key = serialization.load_pem_private_key(pkcs1.encode(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert pkcs8_der(pkcs1) == pkcs8
    assert pkcs8_der(pkcs1.replace("\n", "\\n")) == pkcs8  # one line, as an env var holds it


def test_a_key_that_is_not_a_pem_private_key_is_refused_at_start() -> None:
    env = {
        "GITHUB_WEBHOOK_SECRET": "s",
        "GITHUB_BOT_LOGIN": "bot[bot]",
        "GITHUB_APP_ID": "123",
        "GITHUB_APP_PRIVATE_KEY": "ghp_not-a-key",
    }
    with pytest.raises(ConfigError, match="GITHUB_APP_PRIVATE_KEY must be the App's PEM"):
        BotConfig.from_env(env)


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now_ms


def app_platform(apis: PlatformApis, clock: Clock) -> GitHubPlatform:
    return GitHubPlatform(
        webhook_secret="s",
        token=None,
        bot_login=GITHUB_LOGIN,
        http=InProcessHttp(apis, BASE),
        api_base=f"{BASE}{GITHUB_PATH}",
        app=GitHubAppAuth(GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, CryptographyRsaSigner()),
        clock=clock,
    )


def fake_github(clock: Clock) -> PlatformApis:
    return PlatformApis(
        "1:t",
        "xoxb",
        "bot",
        github_login=GITHUB_LOGIN,
        github_app_id=GITHUB_APP_ID,
        github_app_public_key_pem=GITHUB_APP_PUBLIC_KEY,
        github_clock=lambda: clock() // 1000,
    )


def minted(apis: PlatformApis) -> list[str]:
    return [c.method for c in apis.calls if c.method.startswith("apps.")]


async def test_an_installation_token_is_minted_once_and_kept_until_near_expiry() -> None:
    clock = Clock()
    apis = fake_github(clock)
    github = app_platform(apis, clock)
    await github.send(f"github:{REPO}:7", Reply("one"))
    await github.send(f"github:{REPO}:7", Reply("two"))
    assert minted(apis) == ["apps.installation", "apps.access_token"]
    clock.now_ms += 56 * 60 * 1000  # within five minutes of the hour
    await github.send(f"github:{REPO}:7", Reply("three"))
    assert minted(apis) == ["apps.installation", "apps.access_token", "apps.access_token"]
    assert len([c for c in apis.calls if c.method == "issues.comments.create"]) == 3


async def test_the_installation_a_delivery_names_is_not_asked_for() -> None:
    clock = Clock()
    apis = fake_github(clock)
    github = app_platform(apis, clock)
    payload = github_issue_comment(7, f"@{GITHUB_LOGIN} hi")
    payload["installation"] = {"id": 4242, "node_id": "MDIz"}
    import json

    from chatstate.http.messages import HttpRequest

    [message] = github.parse(  # type: ignore[union-attr]
        HttpRequest(
            "POST",
            "/",
            {"x-github-event": "issue_comment", "x-github-delivery": "1-2"},
            json.dumps(payload).encode(),
        )
    ).events
    await github.prepare(message)  # type: ignore[arg-type]
    await github.send(f"github:{REPO}:7", Reply("hello"))
    assert minted(apis) == ["apps.access_token"]


@pytest.mark.e2e
def test_a_github_app_answers_a_mention_with_an_installation_token(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server(
        GITHUB_TOKEN="",
        GITHUB_APP_ID=GITHUB_APP_ID,
        GITHUB_APP_PRIVATE_KEY=GITHUB_APP_PRIVATE_KEY.replace("\n", "\\n"),
    )
    response = post_github(
        server, "issue_comment", github_issue_comment(7, f"@{GITHUB_LOGIN} hello")
    )
    assert response.status_code == 200
    [reply] = apis.wait_for("issues.comments.create", 1)
    assert "hello" in str(reply["body"])
    assert [m for m, _ in apis.calls if m.startswith("apps.")] == [
        "apps.installation",
        "apps.access_token",
    ]
