"""A token estimate for count_tokens when the upstream cannot count (no tokenizer here).

Heuristic: about 4 characters per token for text, tool names, descriptions and schemas
(the usual figure for English and code with BPE tokenizers); 4 tokens of framing per message;
1,600 per image (Anthropic's figure for a ~1.15 megapixel image); and for documents one token
per 6 bytes of base64 (PDF text is dense). It is an estimate: expect +/-25%.
"""

from __future__ import annotations

from typing import Any

from services.proxy.translate import formats
from services.proxy.translate.codec import dumps
from services.proxy.translate.ir import Format, Media, Reasoning, Text, ToolCall, ToolResult

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1600
DOCUMENT_BYTES_PER_TOKEN = 6


def estimate_input_tokens(body: dict[str, Any], fmt: Format) -> int:
    req = formats.codec(fmt).read_request(body)
    chars = sum(len(s) for s in req.system)
    tokens = MESSAGE_OVERHEAD * (len(req.messages) + (1 if req.system else 0))
    for tool in req.tools:
        chars += len(tool.name) + len(tool.description) + len(dumps(tool.parameters))
    for msg in req.messages:
        for part in msg.parts:
            content = part.content if isinstance(part, ToolResult) else [part]
            for item in content:
                if isinstance(item, Text | Reasoning):
                    chars += len(item.text)
                elif isinstance(item, ToolCall):
                    chars += len(item.name) + len(item.arguments)
                elif isinstance(item, Media):
                    tokens += _media_tokens(item)
    return tokens + (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _media_tokens(item: Media) -> int:
    if item.media_type.startswith("image/") or item.data is None:
        return IMAGE_TOKENS
    return len(item.data) // DOCUMENT_BYTES_PER_TOKEN
