"""Markdown for chat messages: parsed once into blocks of styled runs, rendered natively per
platform, and split under a platform's length limit without ever cutting inside formatting.

Each run carries its own styles and renders to balanced markup on its own, so any cut between
runs, or inside one run's text, leaves every part well formed.

Supported: **bold** / __bold__, *italic* / _italic_, `code`, ~~strike~~, [label](https://url),
```fenced code```, `- ` or `* ` list items, `#` headings. Backslash escapes a marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from html import escape
from itertools import groupby

BOLD, ITALIC, STRIKE, CODE = "bold", "italic", "strike", "code"


@dataclass(frozen=True)
class Run:
    text: str
    styles: frozenset[str] = frozenset()
    href: str | None = None


@dataclass(frozen=True)
class Block:
    kind: str  # "paragraph", "item", "heading" or "code"
    runs: tuple[Run, ...]


_INLINE = re.compile(
    r"\\(?P<escaped>[\\*_`~\[\]()#-])"
    r"|`(?P<code>[^`\n]+)`"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|__(?P<bold2>.+?)__"
    r"|~~(?P<strike>.+?)~~"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<href>https?://[^\s)]+)\)"
    r"|\*(?P<italic>[^*\s](?:[^*\n]*[^*\s])?)\*"
    r"|(?<![\w])_(?P<italic2>[^_\s](?:[^_\n]*[^_\s])?)_(?![\w])",
    re.S,
)


def _inline(text: str, styles: frozenset[str] = frozenset(), href: str | None = None) -> list[Run]:
    runs: list[Run] = []
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            runs.append(Run(text[position : match.start()], styles, href))
        position = match.end()
        kind = match.lastgroup
        if kind == "escaped":
            runs.append(Run(match.group("escaped"), styles, href))
        elif kind == "code":
            runs.append(Run(match.group("code"), styles | {CODE}, href))
        elif kind in ("bold", "bold2"):
            runs.extend(_inline(match.group(kind), styles | {BOLD}, href))
        elif kind in ("italic", "italic2"):
            runs.extend(_inline(match.group(kind), styles | {ITALIC}, href))
        elif kind == "strike":
            runs.extend(_inline(match.group("strike"), styles | {STRIKE}, href))
        elif kind == "href":  # a link: its label is the group before
            runs.extend(_inline(match.group("label"), styles, match.group("href")))
    if position < len(text):
        runs.append(Run(text[position:], styles, href))
    return _joined(runs)


def _joined(runs: list[Run]) -> list[Run]:
    """Neighbouring runs of the same styles as one."""
    out: list[Run] = []
    for run in runs:
        if not run.text:
            continue
        if out and out[-1].styles == run.styles and out[-1].href == run.href:
            out[-1] = replace(out[-1], text=out[-1].text + run.text)
        else:
            out.append(run)
    return out


def parse(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    paragraph: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            blocks.append(Block("paragraph", tuple(_inline("\n".join(paragraph)))))
            paragraph.clear()

    lines = markdown.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith("```"):
            close_paragraph()
            body: list[str] = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith("```"):
                body.append(lines[index])
                index += 1
            blocks.append(Block("code", (Run("\n".join(body), frozenset({CODE})),)))
        elif not stripped:
            close_paragraph()
        elif re.match(r"^[-*] ", stripped):
            close_paragraph()
            blocks.append(Block("item", tuple(_inline(stripped[2:].strip()))))
        elif heading := re.match(r"^#{1,6} +(.*)$", stripped):
            close_paragraph()
            blocks.append(Block("heading", tuple(_inline(heading.group(1), frozenset({BOLD})))))
        else:
            paragraph.append(line)
        index += 1
    close_paragraph()
    return [b for b in blocks if any(r.text.strip() for r in b.runs) or b.kind == "code"]


def plain_blocks(text: str) -> list[Block]:
    """Plain text as blocks: paragraphs, no markup read into it."""
    parts = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    return [Block("paragraph", (Run(p),)) for p in parts if p.strip()]


# --- rendering -------------------------------------------------------------------------------


def visible(blocks: list[Block]) -> str:
    """The text a reader sees, without markup: what platforms count against their limits."""
    return _render(blocks, lambda run: run.text, _plain_block)


def _plain_block(block: Block, inner: str) -> str:
    return f"• {inner}" if block.kind == "item" else inner


def _runs(
    runs: tuple[Run, ...], run_to: Callable[[Run], str], link_to: Callable[[str, str], str]
) -> str:
    """Runs rendered one by one; neighbours with the same link share one link around them."""
    out = ""
    for href, group in groupby(runs, key=lambda run: run.href):
        inner = "".join(run_to(run) for run in group)
        out += inner if href is None else link_to(href, inner)
    return out


def _render(
    blocks: list[Block],
    run_to: Callable[[Run], str],
    block_to: Callable[[Block, str], str],
    link_to: Callable[[str, str], str] = lambda href, inner: inner,
) -> str:
    out = ""
    for index, block in enumerate(blocks):
        if index:
            both_items = block.kind == "item" and blocks[index - 1].kind == "item"
            out += "\n" if both_items else "\n\n"
        out += block_to(block, _runs(block.runs, run_to, link_to))
    return out


def _telegram_run(run: Run) -> str:
    text = escape(run.text, quote=False)
    if CODE in run.styles:
        text = f"<code>{text}</code>"
    for style, tag in ((STRIKE, "s"), (ITALIC, "i"), (BOLD, "b")):
        if style in run.styles:
            text = f"<{tag}>{text}</{tag}>"
    return text


def _telegram_block(block: Block, inner: str) -> str:
    if block.kind == "code":
        return f"<pre>{escape(block.runs[0].text, quote=False)}</pre>"
    return _plain_block(block, inner)


def telegram_html(blocks: list[Block]) -> str:
    """Telegram's HTML parse mode: <b> <i> <s> <code> <pre> <a>, and &, <, > escaped."""
    return _render(
        blocks,
        _telegram_run,
        _telegram_block,
        lambda href, inner: f'<a href="{escape(href)}">{inner}</a>',
    )


def _slack_escape(text: str) -> str:
    # Slack's three control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_run(run: Run) -> str:
    text = _slack_escape(run.text)
    if not text.strip():
        return text
    if CODE in run.styles:
        text = f"`{text}`"
    for style, mark in ((STRIKE, "~"), (ITALIC, "_"), (BOLD, "*")):
        if style in run.styles:
            text = f"{mark}{text}{mark}"
    return text


def _slack_link(href: str, inner: str) -> str:
    # A link's label is plain text in Slack: markup inside it would show literally.
    label = re.sub(r"[*_~`]", "", inner)
    return f"<{_slack_escape(href).replace('|', '%7C')}|{label}>"


def _slack_block(block: Block, inner: str) -> str:
    if block.kind == "code":
        return f"```{_slack_escape(block.runs[0].text)}```"
    return _plain_block(block, inner)


def slack_mrkdwn(blocks: list[Block]) -> str:
    """Slack's mrkdwn: *bold* _italic_ ~strike~ `code` ```pre``` <url|label>, &<> escaped."""
    return _render(blocks, _slack_run, _slack_block, _slack_link)


def _html_run(run: Run) -> str:
    text = escape(run.text, quote=False).replace("\n", "<br>")
    if CODE in run.styles:
        text = f"<code>{text}</code>"
    for style, tag in ((STRIKE, "s"), (ITALIC, "em"), (BOLD, "strong")):
        if style in run.styles:
            text = f"<{tag}>{text}</{tag}>"
    return text


def _html_link(href: str, inner: str) -> str:
    return f'<a href="{escape(href)}" rel="noopener nofollow" target="_blank">{inner}</a>'


def html(blocks: list[Block]) -> str:
    """Sanitised HTML for the console: only the tags above, every text and URL escaped."""
    parts: list[str] = []
    for block in blocks:
        inner = _runs(block.runs, _html_run, _html_link)
        if block.kind == "code":
            parts.append(f"<pre>{escape(block.runs[0].text, quote=False)}</pre>")
        elif block.kind == "item":
            if parts and parts[-1].endswith("</ul>"):
                parts[-1] = parts[-1][: -len("</ul>")] + f"<li>{inner}</li></ul>"
            else:
                parts.append(f"<ul><li>{inner}</li></ul>")
        else:
            parts.append(f"<p>{inner}</p>")
    return "".join(parts)


# --- splitting -------------------------------------------------------------------------------


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split(
    blocks: list[Block], limit: int, measure: Callable[[str], int] = len
) -> list[list[Block]]:
    """Messages of whole blocks whose visible text is at most `limit`; a block too long for
    one message is cut at a line, else at a space, else anywhere, between or inside runs."""
    messages: list[list[Block]] = []
    current: list[Block] = []
    for block in (piece for whole in blocks for piece in _fit(whole, limit, measure)):
        if current and measure(visible([*current, block])) > limit:
            messages.append(current)
            current = []
        current.append(block)
    if current:
        messages.append(current)
    return messages


def _fit(block: Block, limit: int, measure: Callable[[str], int]) -> list[Block]:
    pieces: list[Block] = []
    runs = list(block.runs)
    prefix = 2 if block.kind == "item" else 0
    while measure(visible([Block(block.kind, tuple(runs))])) > limit:
        text = "".join(run.text for run in runs)
        cut = _cut_point(text, limit - prefix, measure)
        head, tail = _split_runs(runs, cut)
        pieces.append(Block(block.kind, tuple(head)))
        runs = _lstrip(tail)
    if runs:
        pieces.append(Block(block.kind, tuple(runs)))
    return pieces


def _cut_point(text: str, limit: int, measure: Callable[[str], int]) -> int:
    fits = limit
    while fits > 1 and measure(text[:fits]) > limit:
        fits -= 1
    for separator in ("\n", " "):
        at = text.rfind(separator, 0, fits + 1)
        if at > fits // 2:
            return at
    return max(fits, 1)


def _split_runs(runs: list[Run], cut: int) -> tuple[list[Run], list[Run]]:
    head: list[Run] = []
    tail: list[Run] = []
    seen = 0
    for run in runs:
        if seen + len(run.text) <= cut:
            head.append(run)
        elif seen >= cut:
            tail.append(run)
        else:
            at = cut - seen
            head.append(replace(run, text=run.text[:at]))
            tail.append(replace(run, text=run.text[at:]))
        seen += len(run.text)
    return _joined(head), tail


def _lstrip(runs: list[Run]) -> list[Run]:
    while runs and not runs[0].text.strip():
        runs = runs[1:]
    if runs:
        runs[0] = replace(runs[0], text=runs[0].text.lstrip())
    return runs
