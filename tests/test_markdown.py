"""Markdown rendered per platform and split under each limit: every part well formed, nothing
lost, nothing cut inside formatting. Telegram's HTML is checked by the fake Bot API's parser,
which refuses what the real one refuses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatstate.chat.markdown import (
    html,
    parse,
    plain_blocks,
    slack_mrkdwn,
    split,
    telegram_html,
    utf16_length,
    visible,
)
from chatstate.testing.platform_apis import Refused, telegram_visible

SAMPLE = "**bold**, *it*, `a<b`, ~~old~~ & [docs](https://e.com/?a=1&b=2)\n\n- one\n- two"


def test_telegram_html_escapes_text_and_balances_tags() -> None:
    assert telegram_html(parse(SAMPLE)) == (
        "<b>bold</b>, <i>it</i>, <code>a&lt;b</code>, <s>old</s> &amp; "
        '<a href="https://e.com/?a=1&amp;b=2">docs</a>\n\n• one\n• two'
    )


def test_slack_mrkdwn_escapes_its_three_characters() -> None:
    assert slack_mrkdwn(parse(SAMPLE)) == (
        "*bold*, _it_, `a&lt;b`, ~old~ &amp; <https://e.com/?a=1&amp;b=2|docs>\n\n• one\n• two"
    )


def test_console_html_has_only_allowed_tags() -> None:
    rendered = html(parse("<script>alert(1)</script> **x** [y](https://e.com)"))
    assert "<script>" not in rendered
    assert rendered == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>x</strong> "
        '<a href="https://e.com" rel="noopener nofollow" target="_blank">y</a></p>'
    )


def test_a_link_to_anything_but_http_stays_text() -> None:
    assert visible(parse("[x](javascript:alert(1))")) == "[x](javascript:alert(1))"


def test_markers_inside_words_and_escaped_markers_stay_literal() -> None:
    assert visible(parse(r"snake_case_name and \*stars\*")) == "snake_case_name and *stars*"


def test_fenced_code_keeps_its_lines_and_markers() -> None:
    assert telegram_html(parse("```\nx = **1**\ny < 2\n```")) == "<pre>x = **1**\ny &lt; 2</pre>"


def test_a_long_text_splits_at_paragraphs_first() -> None:
    text = "\n\n".join(f"paragraph {n} " + "word " * 300 for n in range(12))
    parts = split(parse(text), 4096, utf16_length)
    assert len(parts) > 1
    for part in parts:
        assert visible(part).startswith("paragraph")
        assert utf16_length(visible(part)) <= 4096


def test_one_long_bold_paragraph_splits_into_bold_parts() -> None:
    parts = split(parse("**" + "word " * 2000 + "**"), 4096, utf16_length)
    assert len(parts) == 3
    for part in parts:
        rendered = telegram_html(part)
        assert rendered.startswith("<b>") and rendered.endswith("</b>")
        telegram_visible(rendered, "HTML")


markdown_text = st.lists(
    st.sampled_from([*"ab <>&*_`~[]()#-\n\\", "**", "```", "https://e.com/x", "😀", "word "]),
    max_size=200,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(markdown_text, st.integers(min_value=20, max_value=200))
def test_every_part_renders_to_html_telegram_accepts_within_the_limit(
    text: str, limit: int
) -> None:
    for part in split(parse(text), limit, utf16_length):
        rendered = telegram_html(part)
        try:
            shown = telegram_visible(rendered, "HTML")
        except Refused as refused:
            raise AssertionError(f"{rendered!r}: {refused.answer}") from None
        assert utf16_length(shown) <= limit
        assert shown == visible(part)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.integers(min_value=10, max_value=500))
def test_splitting_plain_text_keeps_every_word_in_order(text: str, limit: int) -> None:
    parts = split(plain_blocks(text), limit)
    assert all(len(visible(part)) <= limit for part in parts)
    assert "".join("".join(visible(p).split()) for p in parts) == "".join(text.split())
