"""Slack's documented Block Kit limits, checked independently of the code under test."""

from __future__ import annotations

from typing import Any


def assert_within_slack_limits(blocks: list[dict[str, Any]], text: str) -> None:
    assert text and text.strip(), "the fallback text must always be set"
    assert len(text) <= 40_000
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                for item in block["fields"]:
                    assert 1 <= len(item["text"]) <= 2000
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert 1 <= len(element["text"]) <= 3000
        else:
            assert kind == "divider", kind
