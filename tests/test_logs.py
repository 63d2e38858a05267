"""Log lines never carry a configured secret, whatever logs them and however."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from chatstate.logs import REDACTED, configure_logging

TOKEN = "123456:ABC-secret-token"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure_logging("DEBUG", [TOKEN, "sig-secret", ""], out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_a_secret_in_a_message_argument_is_redacted(stream: io.StringIO) -> None:
    logging.getLogger("any.library").info("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    assert TOKEN not in stream.getvalue()
    assert f"/bot{REDACTED}/sendMessage" in stream.getvalue()


def test_a_secret_in_a_traceback_is_redacted(stream: io.StringIO) -> None:
    try:
        raise RuntimeError(f"failed calling bot{TOKEN}")
    except RuntimeError:
        logging.getLogger("chatstate").exception("handler failed")
    assert TOKEN not in stream.getvalue()
    assert "RuntimeError" in stream.getvalue()


def test_a_secret_containing_another_is_redacted_whole(stream: io.StringIO) -> None:
    logging.getLogger("x").warning("sig-secret and %s", TOKEN + "sig-secret")
    assert "secret" not in stream.getvalue().split(": ", 1)[1]


def test_http_libraries_stay_quiet_below_warning(stream: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST ...")
    assert stream.getvalue() == ""
