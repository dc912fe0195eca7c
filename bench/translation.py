"""Cost of making a translated request acceptable to its upstream (`translate/rules.py`).

For real client bodies (Claude Code, Codex, Gemini CLI, an OpenAI SDK call) into each other
format, prints microseconds per `translate_request` and the share spent in `rules.conform`,
measured as the same calls with conform replaced by a no-op, interleaved to share the noise.
Times are this process's CPU time, so other load on the machine matters less.
Run with `python -m bench.translation`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from unittest import mock

from services.proxy.translate import rules, translate_request
from tests.unit.proxy.translate import bodies

CLIENTS: dict[str, Callable[[], dict]] = {
    "anthropic": bodies.claude_code,
    "responses": bodies.codex,
    "gemini": bodies.gemini_cli,
    "openai": bodies.openai_chat,
}
MODEL = "claude-sonnet-4-6"


def _per_call(source: str, target: str, body: dict, number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        translate_request(body, source=source, target=target, model=MODEL, stream=True)
    return (time.process_time() - start) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=500)
    args = parser.parse_args()
    print(f"{'pair':24} {'with rules':>11} {'without':>9} {'rules share':>12}")
    for source, make in CLIENTS.items():
        body = make()
        for target in CLIENTS:
            if target == source:
                continue
            with_rules, without = [], []
            for _ in range(args.rounds):
                with_rules.append(_per_call(source, target, body, args.number))
                with mock.patch.object(rules, "conform", return_value={}):
                    without.append(_per_call(source, target, body, args.number))
            best, base = min(with_rules), min(without)
            share = (best - base) / best
            print(f"{source + ' -> ' + target:24} {best:9.0f}us {base:7.0f}us {share:11.0%}")


if __name__ == "__main__":
    main()
