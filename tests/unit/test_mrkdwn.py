"""The one escaping every Slack message uses for outside text."""

from __future__ import annotations

import pytest

from receiver.notify.slack.mrkdwn import escape, escape_within, link, mrkdwn, user_mention


def test_control_characters_and_backticks_are_shown_as_text() -> None:
    assert escape("<!here> & <@U1|x>") == "&lt;!here&gt; &amp; &lt;@U1|x&gt;"
    assert escape("```x```") == "\u02cb\u02cb\u02cbx\u02cb\u02cb\u02cb"
    assert escape("*bold* _it_ ~s~ :fire:") == "*bold* _it_ ~s~ :fire:"  # styling only
    assert escape("&amp;") == "&amp;amp;"  # shown as typed, not decoded


@pytest.mark.parametrize("limit", [1, 5, 40, 200])
def test_escape_within_never_cuts_an_entity_and_stays_within_the_limit(limit: int) -> None:
    text = "<&>" * 50
    escaped = escape_within(text, limit)
    assert len(escaped) <= limit
    body = escaped.removesuffix("…")
    assert escape(text).startswith(body)
    assert not body.endswith(("&", "&l", "&lt", "&a", "&am", "&amp", "&g", "&gt"))
    assert escape_within("short", 10) == "short"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "http://x|Click here>",
        "http://evil.example/<!here>",
        "https://a.example/ b",
        "/relative",
        "data:text/html,x",
        "http://a.example/\nx",
    ],
)
def test_link_refuses_what_is_not_a_plain_http_url(url: str) -> None:
    assert link(url, "Runbook") is None


def test_link_escapes_the_label_and_the_ampersand() -> None:
    assert link("https://g.example/d?a=1&b=2", "<Grafana>") == (
        "<https://g.example/d?a=1&amp;b=2|&lt;Grafana&gt;>"
    )


def test_mentions_only_for_slack_user_ids_and_text_objects_are_verbatim() -> None:
    assert user_mention("U0ALICE") == "<@U0ALICE>"
    assert user_mention("U0A> <!here") == "U0A&gt; &lt;!here"
    assert mrkdwn("x") == {"type": "mrkdwn", "text": "x", "verbatim": True}
