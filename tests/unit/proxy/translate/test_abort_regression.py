"""Issue 12: a deeply nested request body aborted the proxy with glibc heap corruption.

Each reproduction runs in a child process (an abort would kill the test runner) under
CPython's debug allocator, which guards every block and stops the child on the first byte
written past its end, so an overflow fails the test even when glibc would not have noticed it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
ENV = {**os.environ, "PYTHONMALLOC": "malloc_debug", "PYTHONPATH": str(REPO)}

# Every nesting shape at every offset of the first two buffer sizes: 3.11.5 overflowed with
# all four, 3.11.6/3.11.7 still with nested lists.
SWEEP = """
import orjson
def shape(kind, depth):
    x = [] if kind != "d" else {}
    for _ in range(depth):
        x = {"l": lambda v: [v], "d": lambda v: {"a": v},
             "ld": lambda v: [{"a": v}], "dl": lambda v: {"a": [v]}}[kind](x)
    return x
for kind, depth in (("l", 200), ("d", 200), ("ld", 120), ("dl", 120), ("l", 250)):
    deep = shape(kind, depth)
    for pad in range(250, 1100):
        orjson.dumps([1] * pad + [deep])
print("survived")
"""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)


def test_translated_deep_gemini_body_serialises_without_abort():
    """The reported case: Gemini -> OpenAI translation of a 200-deep tool schema, dumped."""
    done = _run([sys.executable, "-m", "tests.unit.proxy.translate.abort_repro"])
    assert (done.returncode, done.stdout.strip()) == (0, "survived"), done.stderr[-2000:]


def test_orjson_survives_deep_nesting_at_every_buffer_offset():
    """The serializer itself, with no proxy code: the pinned orjson must not overflow."""
    done = _run([sys.executable, "-c", SWEEP])
    assert (done.returncode, done.stdout.strip()) == (0, "survived"), done.stderr[-2000:]
