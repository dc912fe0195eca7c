"""The OpenAI stream writer's text-delta shortcut writes the bytes of its general frame path."""

from __future__ import annotations

import orjson
import pytest

from services.proxy.translate.openai import Writer


@pytest.mark.parametrize("text", ["hi", 'q"uo\\te\n', "é✓😀", "\x00\x1f\u2028", ""])
def test_text_frames_match_the_general_path(text: str) -> None:
    general, short = Writer("m"), Writer("m")
    general.text("first")  # the first delta carries the role and goes the general way
    short.text("first")
    short._prefix = general._prefix  # the same id and created time on both
    general.take(), short.take()
    general._delta({"content": text})
    short.text(text)
    frame = short.take()
    assert frame == general.take()
    assert orjson.loads(frame[6:])["choices"][0]["delta"] == {"content": text}
