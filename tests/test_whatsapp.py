"""WhatsApp end to end on both runtimes: Meta's verification handshake, signed deliveries in the
documented shapes, replies at a fake Graph API on loopback, and every bad input refused before
state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from chatstate.testing.payloads import (
    body,
    whatsapp_delivery,
    whatsapp_status,
    whatsapp_text,
)
from support.e2e import post_whatsapp, shard_files
from support.fake_apis import FakeApis
from support.local_server import WHATSAPP_VERIFY_TOKEN, LocalServer

pytestmark = pytest.mark.e2e
USER = "16315551181"


def sent(apis: FakeApis) -> list[dict[str, Any]]:
    return apis.sent("messages")


def test_the_verification_handshake_echoes_the_challenge(
    start_server: Callable[..., LocalServer],
) -> None:
    server = start_server()
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": WHATSAPP_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = httpx.get(f"{server.url}/webhooks/whatsapp", params=query, timeout=30)
    assert (response.status_code, response.text) == (200, "1158201444")


def test_a_handshake_with_another_token_gets_403(start_server: Callable[..., LocalServer]) -> None:
    server = start_server()
    query = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    response = httpx.get(f"{server.url}/webhooks/whatsapp", params=query, timeout=30)
    assert response.status_code == 403
    assert "WHATSAPP_VERIFY_TOKEN" in response.text


def test_a_message_is_answered_through_the_graph_api(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    response = post_whatsapp(server, whatsapp_delivery([whatsapp_text("hello")]))
    assert response.status_code == 200
    [reply] = apis.wait_for("messages", 1)
    assert (reply["messaging_product"], reply["to"], reply["type"]) == ("whatsapp", USER, "text")
    assert "hi Ann!" in reply["text"]["body"] and "hello" in reply["text"]["body"]


def test_a_redelivered_message_is_handled_once(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    delivery = whatsapp_delivery(
        [whatsapp_text("once", wamid="wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUFFRjZBN0ExRAA=")]
    )
    for _ in range(3):
        assert post_whatsapp(server, delivery).status_code == 200
    apis.wait_for("messages", 1)
    time.sleep(1.5)
    assert len(sent(apis)) == 1


def test_delivery_statuses_are_acknowledged_and_ignored(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    before = shard_files(server)
    statuses = whatsapp_delivery(statuses=[whatsapp_status("wamid.OUT1", "read")])
    assert post_whatsapp(server, statuses).status_code == 200
    time.sleep(0.5)
    assert sent(apis) == []
    assert shard_files(server) == before


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Hub-Signature-256"),
        ({"x-hub-signature-256": "sha256=00"}, "invalid WhatsApp signature"),
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
    response = httpx.post(
        f"{server.url}/webhooks/whatsapp",
        content=body(whatsapp_delivery([whatsapp_text("hello")])),
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )
    assert (response.status_code, response.text) == (401, f"{reason}\n")
    assert shard_files(server) == before
    assert sent(apis) == []


def test_a_delivery_signed_with_another_secret_gets_401(
    start_server: Callable[..., LocalServer],
) -> None:
    server = start_server()
    delivery = whatsapp_delivery([whatsapp_text("hello")])
    assert post_whatsapp(server, delivery, secret="another-app-secret").status_code == 401


def broken(field: str) -> dict[str, Any]:
    message = whatsapp_text("hello")
    if field == "message.from":
        message["from"] = "+1 (631) 555"
    elif field == "message.id":
        del message["id"]
    elif field == "message.text":
        message["text"] = "hello"
    delivery = whatsapp_delivery([message])
    if field == "entry":
        delivery["entry"] = {"id": "1"}
    return delivery


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("message.from", "message.from must be a WhatsApp id (the number in digits)"),
        ("message.id", "message.id must be a non-empty string"),
        ("message.text", "message.text must be an object"),
        ("entry", "entry must be a list"),
    ],
)
def test_a_malformed_delivery_gets_400_naming_the_field(
    start_server: Callable[..., LocalServer], apis: FakeApis, field: str, reason: str
) -> None:
    server = start_server()
    response = post_whatsapp(server, broken(field))
    assert (response.status_code, response.text) == (400, f"{reason}\n")
    assert sent(apis) == []
