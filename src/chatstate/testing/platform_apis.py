"""The Telegram Bot API and Slack Web API as documented, answered in process for tests.

Answers have the documented shapes: Telegram `{"ok": true, "result": ...}` at
`/bot<token>/<method>` (401 for another token, 404 for an unknown method, 400 with the Bot
API's description for a request it refuses), Slack `{"ok": true, ...}` at `/api/<method>` with a
Bearer token (`{"ok": false, "error": ...}` otherwise). The documented limits are enforced, so a
mistake fails here as it would there: Telegram's HTML parser refuses unknown or unbalanced tags
and texts over 4,096 characters; Slack refuses invalid blocks. Every accepted call is recorded.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

from chatstate.http.client import HttpResult, HttpStatusError, ResponseTooLarge
from chatstate.testing.discord_api import FakeDiscordApi
from chatstate.testing.github_api import FakeGitHubApi
from chatstate.testing.whatsapp_api import FakeWhatsAppApi

BOT_USER_ID = 42
SLACK_BOT_USER = "UBOT"
UPLOAD_PATH = "/upload/"
# Below the fake server: GitHub's REST API (GITHUB_API_BASE is the server's URL plus this).
GITHUB_PATH = "/github"
# And the Graph API (WHATSAPP_API_BASE), with WhatsApp media downloads below WHATSAPP_MEDIA_PATH.
GRAPH_PATH = "/graph"
# And Discord's API (DISCORD_API_BASE).
DISCORD_PATH = "/discord"
# The REST APIs, answered for every method with the request's JSON as it is.
REST_PATHS = (GITHUB_PATH, GRAPH_PATH, DISCORD_PATH)
WHATSAPP_MEDIA_PATH = "/whatsapp-media/"
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
TELEGRAM_MAX_BUTTONS = 100
SLACK_BLOCK_TYPES = {
    "section",
    "header",
    "actions",
    "image",
    "divider",
    "context",
    "markdown",
    "input",
}


@dataclass(frozen=True)
class ApiCall:
    platform: str
    method: str
    payload: dict[str, Any]


class Refused(Exception):
    """A request the platform refuses: the status and answer it gives."""

    def __init__(self, status: int, answer: dict[str, Any]) -> None:
        super().__init__(answer)
        self.status = status
        self.answer = answer


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """A request's parameters in any encoding the APIs accept: JSON, a form, or
    multipart/form-data (a file part's bytes are kept as bytes). A chat_id that is a number in
    a form is read as one, as the Bot API does."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields: dict[str, Any] = dict(parse_qsl(body.decode()))
    elif content_type.startswith("multipart/form-data"):
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        fields = {}
        for part in message.walk():
            name = part.get_param("name", header="content-disposition")
            value = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(value, bytes):
                fields[name] = value if part.get_filename() else value.decode()
    else:
        try:
            loaded = json.loads(body) if body else {}
        except ValueError:
            loaded = {}
        return loaded if isinstance(loaded, dict) else {}
    for key in ("chat_id", "message_thread_id", "length"):
        value = fields.get(key)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            fields[key] = int(value)
    return fields


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode, strictly: known tags, balanced, text measured unescaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}"')
        if tag == "a" and not any(name == "href" for name, _ in attrs):
            raise _bad("can't parse entities: a link needs an href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise _bad(f'can\'t parse entities: Unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise _bad("can't parse entities: Unescaped < or >")
        self.text += data

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            raise _bad(f"can't parse entities: Unsupported entity &{name};")
        self.text += unescape(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.text += unescape(f"&#{name};")


def _bad(description: str) -> Refused:
    return Refused(
        400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}
    )


def telegram_visible(text: str, parse_mode: str | None) -> str:
    """The text a Telegram message shows; raises Refused where the Bot API answers 400."""
    if parse_mode is None:
        return text
    if parse_mode != "HTML":
        raise _bad(f"unsupported parse_mode {parse_mode}")
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.stack[-1]}\""
        )
    return parser.text


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class PlatformApis:
    """Answers calls to both APIs for one bot: its Telegram token and username, its Slack token."""

    def __init__(
        self,
        telegram_token: str,
        slack_token: str,
        bot_username: str,
        on_call: Callable[[ApiCall], None] | None = None,
        upload_base: str = "",
        *,
        github_token: str = "",
        github_login: str = "",
        github_app_id: str = "",
        github_app_public_key_pem: bytes = b"",
        github_clock: Callable[[], int] = lambda: int(time.time()),
        whatsapp_token: str = "",
        whatsapp_phone_number_id: str = "",
        discord_application_id: str = "",
        discord_bot_token: str = "",
    ) -> None:
        self.telegram_token = telegram_token
        self.slack_token = slack_token
        self.bot_username = bot_username
        self.calls: list[ApiCall] = []
        # Told of each accepted call before it is answered (a server may hold the answer).
        self._on_call = on_call
        self.upload_base = upload_base
        self._ids = itertools.count(1000)
        self._uploads: dict[str, int] = {}
        # Files users sent: Telegram's by file_id, Slack's by the path of their url_private.
        self.telegram_files: dict[str, bytes] = {}
        self.slack_files: dict[str, bytes] = {}
        # Every file download asked for, by path: a test can see none went astray.
        self.downloads: list[str] = []
        self.github = FakeGitHubApi(
            github_token,
            github_login,
            lambda method, payload: self._record(ApiCall("github", method, payload)),
            app_id=github_app_id,
            app_public_key_pem=github_app_public_key_pem,
            clock=github_clock,
        )
        self.whatsapp = FakeWhatsAppApi(
            whatsapp_token,
            whatsapp_phone_number_id,
            lambda method, payload: self._record(ApiCall("whatsapp", method, payload)),
        )
        self.whatsapp.download_base = upload_base
        self.discord = FakeDiscordApi(
            discord_application_id,
            discord_bot_token,
            lambda method, payload: self._record(ApiCall("discord", method, payload)),
        )

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        if self._on_call is not None:
            self._on_call(call)

    def add_slack_file(self, name: str, data: bytes) -> str:
        """A file as a user shares it in Slack; its url_private (below upload_base)."""
        path = f"/files-pri/T123ABC456-F{next(self._ids)}/{name}"
        self.slack_files[path] = data
        return f"{self.upload_base}{path}"

    def add_whatsapp_media(self, data: bytes) -> str:
        """A photo a WhatsApp user sends: its media id."""
        media_id = f"{next(self._ids) + 700_000}"
        self.whatsapp.media[media_id] = data
        return media_id

    def whatsapp_last_sent(self, wa_id: str) -> str:
        """The wamid of the bot's latest message to this user."""
        return self.whatsapp.sent_to[wa_id][-1]

    def download(self, path: str, authorization: str | None) -> tuple[int, bytes]:
        """A GET: Telegram's /file/bot<token>/<file_path>, Slack's url_private (with the token)."""
        self.downloads.append(path)
        if path.startswith(WHATSAPP_MEDIA_PATH):
            return self.whatsapp.download(path.removeprefix(WHATSAPP_MEDIA_PATH), authorization)
        prefix = f"/file/bot{self.telegram_token}/"
        if path.startswith(prefix):
            file_id = path.removeprefix(prefix).removeprefix("documents/")
            data = self.telegram_files.get(file_id)
            return (200, data) if data is not None else (404, b"Not Found")
        if path in self.slack_files:
            if authorization != f"Bearer {self.slack_token}":
                return 302, b""  # Slack redirects to a login page without the token
            return 200, self.slack_files[path]
        return 404, b"Not Found"

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [call.payload for call in self.calls if call.method == method]

    def answer(
        self, path: str, authorization: str | None, payload: Any, method: str = "POST"
    ) -> tuple[int, Any]:
        """The status and JSON answer for a request to `path` (below the API's host)."""
        if path.startswith(GITHUB_PATH):
            return self.github.answer(
                method, path.removeprefix(GITHUB_PATH), authorization, payload
            )
        if path.startswith(GRAPH_PATH):
            return self.whatsapp.answer(
                method, path.removeprefix(GRAPH_PATH), authorization, payload
            )
        if path.startswith(DISCORD_PATH):
            return self.discord.answer(
                method, path.removeprefix(DISCORD_PATH), authorization, payload
            )
        try:
            if path.startswith("/bot"):
                return self._telegram(path, payload)
            if path.startswith(UPLOAD_PATH):
                return self._upload(path.removeprefix(UPLOAD_PATH), payload)
            if path.startswith("/api/"):
                return self._slack(path.removeprefix("/api/"), authorization, payload)
        except Refused as refused:
            return refused.status, refused.answer
        return 404, {"ok": False, "error": "unknown_method"}

    # --- Telegram --------------------------------------------------------------------------------

    def _telegram(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not path.startswith(f"/bot{self.telegram_token}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path.rsplit("/", 1)[1]
        handler = getattr(self, f"_tg_{method}", None)
        if handler is None:
            return 404, {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        result = handler(payload)
        self._record(ApiCall("telegram", method, payload))
        return 200, {"ok": True, "result": result}

    def _bot(self) -> dict[str, Any]:
        return {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": "Bot",
            "username": self.bot_username,
        }

    def _tg_getMe(self, payload: dict[str, Any]) -> Any:
        return self._bot()

    def _tg_answerCallbackQuery(self, payload: dict[str, Any]) -> Any:
        return True

    def _tg_message(self, payload: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = payload.get("chat_id")
        if not isinstance(chat_id, int):
            raise _bad("chat_id is empty")
        _check_keyboard(payload.get("reply_markup"))
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": self._bot(),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            **content,
        }
        if "message_thread_id" in payload:
            message["message_thread_id"] = payload["message_thread_id"]
            message["is_topic_message"] = True
        if payload.get("reply_markup"):
            message["reply_markup"] = payload["reply_markup"]
        return message

    def _tg_sendMessage(self, payload: dict[str, Any]) -> Any:
        text = _telegram_text(
            payload.get("text"), payload.get("parse_mode"), TELEGRAM_TEXT_LIMIT, "message"
        )
        return self._tg_message(payload, text=text)

    def _tg_sendPhoto(self, payload: dict[str, Any]) -> Any:
        caption = payload.get("caption")
        shown = (
            ""
            if caption is None
            else _telegram_text(
                caption, payload.get("parse_mode"), TELEGRAM_CAPTION_LIMIT, "caption", empty=True
            )
        )
        if not payload.get("photo"):
            raise _bad("there is no photo in the request")
        photo = [{"file_id": f"photo-{next(self._ids)}", "width": 90, "height": 90}]
        return self._tg_message(payload, photo=photo, **({"caption": shown} if shown else {}))

    def _tg_sendDocument(self, payload: dict[str, Any]) -> Any:
        document = payload.get("document")
        if not document:
            raise _bad("there is no document in the request")
        size = len(document) if isinstance(document, bytes) else None
        return self._tg_message(
            payload, document={"file_id": f"doc-{next(self._ids)}", "file_size": size}
        )

    def _tg_editMessageText(self, payload: dict[str, Any]) -> Any:
        text = _telegram_text(
            payload.get("text"), payload.get("parse_mode"), TELEGRAM_TEXT_LIMIT, "message"
        )
        _check_keyboard(payload.get("reply_markup"))
        return {**self._edited(payload), "text": text}

    def _tg_editMessageCaption(self, payload: dict[str, Any]) -> Any:
        caption = _telegram_text(
            payload.get("caption", ""),
            payload.get("parse_mode"),
            TELEGRAM_CAPTION_LIMIT,
            "caption",
            empty=True,
        )
        return {**self._edited(payload), "caption": caption, "photo": [{"file_id": "photo"}]}

    def _edited(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(payload.get("message_id"), int):
            raise _bad("message identifier is not specified")
        return {
            "message_id": payload["message_id"],
            "from": self._bot(),
            "chat": {"id": payload.get("chat_id"), "type": "supergroup"},
            "date": int(time.time()),
            "edit_date": int(time.time()),
        }

    def _tg_deleteMessage(self, payload: dict[str, Any]) -> Any:
        self._edited(payload)
        return True

    def _tg_setMessageReaction(self, payload: dict[str, Any]) -> Any:
        self._edited(payload)
        reaction = payload.get("reaction", [])
        if not isinstance(reaction, list) or len(reaction) > 1:
            raise _bad("REACTIONS_TOO_MANY")
        for item in reaction:
            if item.get("type") != "emoji" or not item.get("emoji"):
                raise _bad("REACTION_INVALID")
        return True

    def _tg_sendChatAction(self, payload: dict[str, Any]) -> Any:
        if payload.get("action") not in ("typing", "upload_photo", "upload_document"):
            raise _bad("wrong parameter action in request")
        return True

    def _tg_sendMessageDraft(self, payload: dict[str, Any]) -> Any:
        if not isinstance(payload.get("chat_id"), int) or payload["chat_id"] <= 0:
            raise _bad("drafts can be sent to private chats only")
        if not payload.get("draft_id"):
            raise _bad("draft_id must be non-zero")
        _telegram_text(
            payload.get("text"),
            payload.get("parse_mode"),
            TELEGRAM_TEXT_LIMIT,
            "message",
            empty=True,
        )
        return True

    def _tg_setMyCommands(self, payload: dict[str, Any]) -> Any:
        return True

    def _tg_getFile(self, payload: dict[str, Any]) -> Any:
        file_id = payload.get("file_id")
        if file_id not in self.telegram_files:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.telegram_files[file_id]),
            "file_path": f"documents/{file_id}",
        }

    # --- Slack ---------------------------------------------------------------------------------

    def _slack(
        self, method: str, authorization: str | None, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        handler = getattr(self, "_sl_" + method.replace(".", "_"), None)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}
        if authorization != f"Bearer {self.slack_token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        answer = handler(payload)
        self._record(ApiCall("slack", method, payload))
        return 200, {"ok": True, **answer}

    def _posted(self, payload: dict[str, Any], ts: str | None = None) -> dict[str, Any]:
        if not payload.get("channel"):
            raise Refused(200, {"ok": False, "error": "channel_not_found"})
        if not payload.get("text") and not payload.get("blocks"):
            raise Refused(200, {"ok": False, "error": "no_text"})
        _check_blocks(payload.get("blocks") or [])
        ts = ts or f"{time.time():.6f}"
        message = {
            "type": "message",
            "user": SLACK_BOT_USER,
            "text": payload.get("text", ""),
            "ts": ts,
        }
        return {"channel": payload["channel"], "ts": ts, "message": message}

    def _sl_chat_postMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._posted(payload)

    def _sl_chat_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("ts"):
            raise Refused(200, {"ok": False, "error": "message_not_found"})
        return self._posted(payload, str(payload["ts"]))

    def _sl_chat_delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("channel") or not payload.get("ts"):
            raise Refused(200, {"ok": False, "error": "message_not_found"})
        return {"channel": payload["channel"], "ts": payload["ts"]}

    def _sl_chat_postEphemeral(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("user"):
            raise Refused(200, {"ok": False, "error": "user_not_in_channel"})
        posted = self._posted(payload)
        return {"message_ts": posted["ts"]}

    def _sl_reactions_add(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("name") or not payload.get("timestamp"):
            raise Refused(200, {"ok": False, "error": "invalid_name"})
        return {}

    _sl_reactions_remove = _sl_reactions_add

    def _sl_conversations_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = str(payload.get("users", ""))
        if not user:
            raise Refused(200, {"ok": False, "error": "users_list_not_supplied"})
        return {"channel": {"id": f"D{user.removeprefix('U')}"}}

    def _sl_files_getUploadURLExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("filename") or not isinstance(payload.get("length"), int):
            raise Refused(200, {"ok": False, "error": "invalid_arguments"})
        file_id = f"F{next(self._ids)}"
        self._uploads[file_id] = int(payload["length"])
        return {"upload_url": f"{self.upload_base}{UPLOAD_PATH}{file_id}", "file_id": file_id}

    def _upload(self, file_id: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if file_id not in self._uploads:
            return 404, {"ok": False, "error": "file_not_found"}
        self._record(ApiCall("slack", "upload", {"file_id": file_id, **payload}))
        return 200, {"ok": True}

    def _sl_files_completeUploadExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        files = payload.get("files")
        if not isinstance(files, list) or not all(f.get("id") in self._uploads for f in files):
            raise Refused(200, {"ok": False, "error": "file_not_found"})
        return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _sl_views_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("trigger_id"):
            raise Refused(200, {"ok": False, "error": "invalid_trigger_id"})
        view = payload.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise Refused(200, {"ok": False, "error": "invalid_arguments"})
        _text_object(view.get("title"), 24, "/view/title", ("plain_text",))
        if len(str(view.get("private_metadata", ""))) > 3000:
            raise _invalid("private_metadata is at most 3000 characters [json-pointer:/view]")
        _check_blocks(view.get("blocks") or [])
        return {"view": {**view, "id": f"V{next(self._ids)}"}}

    def _sl_chat_startStream(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("channel") or not payload.get("thread_ts"):
            raise Refused(200, {"ok": False, "error": "invalid_arguments"})
        return {"channel": payload["channel"], "ts": f"{time.time():.6f}"}

    def _sl_chat_appendStream(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("ts") or not payload.get("markdown_text"):
            raise Refused(200, {"ok": False, "error": "invalid_arguments"})
        return {"channel": payload.get("channel"), "ts": payload["ts"]}

    def _sl_chat_stopStream(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not payload.get("ts"):
            raise Refused(200, {"ok": False, "error": "invalid_arguments"})
        return {"channel": payload.get("channel"), "ts": payload["ts"]}


def _telegram_text(
    text: Any, parse_mode: Any, limit: int, what: str, *, empty: bool = False
) -> str:
    if not isinstance(text, str) or (not text.strip() and not empty):
        raise _bad(f"{what} text is empty")
    shown = telegram_visible(text, parse_mode)
    if _utf16(shown) > limit:
        raise _bad(f"{what} is too long")
    return shown


def _check_keyboard(markup: Any) -> None:
    if not markup:
        return
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    buttons = [button for row in rows for button in row]
    if len(buttons) > TELEGRAM_MAX_BUTTONS:
        raise _bad("BUTTONS_TOO_MUCH")
    for button in buttons:
        data = button.get("callback_data")
        if data is None and "url" not in button:
            raise _bad('can\'t find field "callback_data" or "url"')
        if data is not None and len(str(data).encode()) > 64:
            raise _bad("BUTTON_DATA_INVALID")


def _invalid(reason: str) -> Refused:
    return Refused(200, {"ok": False, "error": "invalid_blocks", "errors": [reason]})


def _text_object(
    value: Any, limit: int, where: str, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")
) -> None:
    if not isinstance(value, dict) or value.get("type") not in kinds:
        raise _invalid(f"{where} must be a text object of type {' or '.join(kinds)}")
    text = value.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        raise _invalid(f"{where} must be 1-{limit} characters")


def _check_blocks(blocks: Any) -> None:
    """Block Kit as Slack validates it, for the blocks this project sends."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise _invalid("no more than 50 items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"/blocks/{index}"
        if kind not in SLACK_BLOCK_TYPES:
            raise _invalid(f"unknown block type {kind!r} [json-pointer:{where}]")
        if kind == "header":
            _text_object(block.get("text"), 150, where, ("plain_text",))
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                raise _invalid(f"a section needs text or fields [json-pointer:{where}]")
            if "text" in block:
                _text_object(block["text"], 3000, f"{where}/text")
            for field in block.get("fields", []):
                _text_object(field, 2000, f"{where}/fields")
            if len(block.get("fields", [])) > 10:
                raise _invalid(f"no more than 10 fields [json-pointer:{where}/fields]")
        elif kind == "image":
            if not block.get("image_url") or not block.get("alt_text"):
                raise _invalid(f"an image needs image_url and alt_text [json-pointer:{where}]")
        elif kind == "input":
            _text_object(block.get("label"), 2000, f"{where}/label", ("plain_text",))
            element = block.get("element") or {}
            if element.get("type") not in ("plain_text_input", "static_select"):
                raise _invalid(f"unsupported input element [json-pointer:{where}/element]")
            if element.get("type") == "static_select":
                _check_element(element, f"{where}/element")
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                raise _invalid(f"actions hold 1-25 elements [json-pointer:{where}/elements]")
            for element in elements:
                _check_element(element, f"{where}/elements")


def _check_element(element: dict[str, Any], where: str) -> None:
    kind = element.get("type")
    if kind == "button":
        _text_object(element.get("text"), 75, where, ("plain_text",))
        if not element.get("action_id") and not element.get("url"):
            raise _invalid(f"a button needs an action_id [json-pointer:{where}]")
    elif kind == "static_select":
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= 100:
            raise _invalid(f"a select holds 1-100 options [json-pointer:{where}]")
        for option in options:
            _text_object(option.get("text"), 75, where, ("plain_text",))
            if not option.get("value"):
                raise _invalid(f"an option needs a value [json-pointer:{where}]")
    else:
        raise _invalid(f"unsupported element type {kind!r} [json-pointer:{where}]")


class InProcessHttp:
    """The platforms' HTTP client port, answered by `PlatformApis` without a network."""

    def __init__(self, apis: PlatformApis, base: str) -> None:
        self._apis = apis
        self._base = base

    async def download(self, url: str, headers: dict[str, str], max_bytes: int) -> bytes:
        if not url.startswith(self._base):
            raise ConnectionError("no network in tests: a download went past the fake APIs")
        status, data = self._apis.download(url[len(self._base) :], headers.get("authorization"))
        if status != 200:
            raise HttpStatusError(status, b"")
        if len(data) > max_bytes:
            raise ResponseTooLarge(f"the body is over {max_bytes} bytes")
        return data

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        return await self.request("POST", url, body, headers)

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        if not url.startswith(self._base):
            # The URL may hold a bot token: it is not repeated here.
            raise ConnectionError("no network in tests: a call went past the fake platform APIs")
        path = url[len(self._base) :]
        if path.startswith(UPLOAD_PATH):
            payload: Any = {"bytes": len(body)}
        elif path.startswith(REST_PATHS) and headers.get("content-type") == "application/json":
            payload = json.loads(body) if body else None
        else:
            payload = parse_body(headers.get("content-type", "application/json"), body)
        status, answer = self._apis.answer(
            path, headers.get("authorization"), payload, method=method
        )
        data = b"" if answer is None else json.dumps(answer).encode()
        return HttpResult(status, data, {"content-type": "application/json"})
