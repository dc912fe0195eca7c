"""The heap overflow of issue 12, as a program: `python -m tests.unit.proxy.translate.abort_repro`.

A Gemini body whose tool schema holds an array nested 200 deep, translated to OpenAI and
serialised with orjson. orjson 3.11.5 wrote the run of closing brackets past the end of its
output buffer whenever that run crossed a buffer-capacity boundary; glibc then aborted the
process (`free(): invalid next size`). Each padding moves the run to another offset, so one of
them lands on the boundary. Exit status 0 means every serialisation survived.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from services.proxy.translate import translate_request

DEPTH = 200
PADDINGS = range(150, 300)  # enum lengths that slide the closing run across 1 KiB and 2 KiB


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def gemini_body(pad: int, depth: int = DEPTH) -> dict[str, Any]:
    props = {
        "p": {"type": "integer", "enum": [1] * pad},
        "a": {"type": "array", "default": nested(depth)},
    }
    declaration = {
        "name": "f",
        "parametersJsonSchema": {"type": "object", "properties": props},
    }
    return {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
    }


def main() -> int:
    for pad in PADDINGS:
        body = translate_request(
            gemini_body(pad), source="gemini", target="openai", model="gpt-4o", stream=False
        )
        orjson.dumps(body)
    sys.stdout.write("survived\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
