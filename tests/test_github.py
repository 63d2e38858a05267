"""GitHub end to end on both runtimes: signed deliveries in the documented shapes, replies as
comments at a fake REST API on loopback, and every bad input refused before state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from chatstate.testing.payloads import (
    body,
    github_issue_comment,
    github_issue_event,
    github_review_comment,
)
from support.e2e import post_github, shard_files
from support.fake_apis import FakeApis
from support.local_server import GITHUB_LOGIN, LocalServer

pytestmark = pytest.mark.e2e
REPO = "octo-org/hello-world"
MENTION = f"@{GITHUB_LOGIN} hello"


def comments(apis: FakeApis) -> list[dict[str, object]]:
    return apis.sent("issues.comments.create")


def test_a_mention_in_an_issue_comment_is_answered_with_a_comment(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    response = post_github(server, "issue_comment", github_issue_comment(7, MENTION))
    assert response.status_code == 200
    [reply] = apis.wait_for("issues.comments.create", 1)
    assert reply["path"] == f"/repos/{REPO}/issues/7/comments"
    assert "hi octocat!" in str(reply["body"]) and "hello" in str(reply["body"])


def test_a_mention_on_a_diff_line_is_answered_in_the_pull_requests_conversation(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    post_github(server, "pull_request_review_comment", github_review_comment(12, MENTION))
    [reply] = apis.wait_for("issues.comments.create", 1)
    assert reply["path"] == f"/repos/{REPO}/issues/12/comments"


def test_an_issue_opened_with_a_mention_is_answered(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    event = github_issue_event(3, title="Crash on start", text=f"{MENTION}, it crashes")
    post_github(server, "issues", event)
    [reply] = apis.wait_for("issues.comments.create", 1)
    assert reply["path"] == f"/repos/{REPO}/issues/3/comments"
    assert "Crash on start" in str(reply["body"])


def test_a_redelivered_comment_is_handled_once(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    payload = github_issue_comment(8, MENTION, comment_id=8100)
    for _ in range(3):
        response = post_github(server, "issue_comment", payload, delivery="72d3162e-cc78-11e3")
        assert response.status_code == 200
    apis.wait_for("issues.comments.create", 1)
    time.sleep(1.5)
    assert len(comments(apis)) == 1


def test_the_bots_own_comment_is_not_answered(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    own = github_issue_comment(9, f"@{GITHUB_LOGIN} says hi", author=GITHUB_LOGIN)
    assert post_github(server, "issue_comment", own).status_code == 200
    post_github(server, "issue_comment", github_issue_comment(10, MENTION, comment_id=8200))
    [reply] = apis.wait_for("issues.comments.create", 1)
    time.sleep(1)
    assert [c["path"] for c in comments(apis)] == [f"/repos/{REPO}/issues/10/comments"]
    assert str(reply["path"]).endswith("/10/comments")


def test_a_ping_is_answered_with_pong(start_server: Callable[..., LocalServer]) -> None:
    server = start_server()
    response = post_github(server, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert (response.status_code, response.text) == (200, "pong\n")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Hub-Signature-256"),
        ({"x-hub-signature-256": "sha256=" + "0" * 64}, "invalid GitHub signature"),
    ],
)
def test_a_delivery_without_a_valid_signature_gets_401_and_writes_nothing(
    start_server: Callable[..., LocalServer],
    apis: FakeApis,
    headers: dict[str, str],
    reason: str,
) -> None:
    server = start_server()
    before = shard_files(server)
    raw = body(github_issue_comment(11, MENTION))
    response = httpx.post(
        f"{server.url}/webhooks/github",
        content=raw,
        headers={"x-github-event": "issue_comment", "x-github-delivery": "1-2", **headers},
        timeout=30,
    )
    assert (response.status_code, response.text) == (401, f"{reason}\n")
    assert shard_files(server) == before
    assert comments(apis) == []


def test_a_delivery_signed_with_another_secret_gets_401(
    start_server: Callable[..., LocalServer],
) -> None:
    server = start_server()
    payload = github_issue_comment(11, MENTION)
    assert post_github(server, "issue_comment", payload, secret="not-the-secret").status_code == 401


def broken(field: str) -> dict[str, Any]:
    payload: dict[str, Any] = github_issue_comment(13, MENTION)
    if field == "repository.full_name":
        payload["repository"] = {"full_name": "no slash"}
    elif field == "comment.id":
        payload["comment"]["id"] = "8001"
    elif field == "issue.number":
        payload["issue"]["number"] = -1
    elif field == "comment.body":
        payload["comment"]["body"] = ["not", "text"]
    return payload


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("repository.full_name", "repository.full_name must be owner/name"),
        ("comment.id", "comment.id must be a positive integer"),
        ("issue.number", "issue.number must be a positive integer"),
        ("comment.body", "comment.body must be a string"),
    ],
)
def test_a_malformed_delivery_gets_400_naming_the_field(
    start_server: Callable[..., LocalServer], apis: FakeApis, field: str, reason: str
) -> None:
    server = start_server()
    response = post_github(server, "issue_comment", broken(field))
    assert (response.status_code, response.text) == (400, f"{reason}\n")
    assert comments(apis) == []


def test_a_body_that_is_not_json_gets_400(start_server: Callable[..., LocalServer]) -> None:
    server = start_server()
    response = post_github(server, "issue_comment", {})
    assert response.status_code == 400  # {} has no repository
    assert "repository" in response.text
