"""What each upstream format accepts, applied to a Request before the target's writer runs.

A value outside a provider's range is clamped, a field it does not take is dropped, a tool name
it rejects is renamed (and named back in the answer), and what cannot be expressed at all is
refused with `Unsupported`: a 400 that says why, instead of the provider's own confusing one.
docs/translation.md has the table of rules. Same-format relays never come here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from services.core.errors import BadRequest
from services.proxy.translate import catalog
from services.proxy.translate.ir import (
    Format,
    Media,
    Message,
    Part,
    Reasoning,
    Request,
    Text,
    ToolCall,
    ToolChoice,
    ToolResult,
)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PDF = "application/pdf"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Gemini Files API URIs and Cloud Storage URIs only Google can read.
_GOOGLE_FILES = re.compile(r"^(gs://|https://generativelanguage\.googleapis\.com/.*/files/)")
# Shown to Claude and Gemini when a conversation starts with the assistant: both want a user
# turn first (Anthropic-compatible gateways refuse otherwise; Gemini wants a user turn before
# a function call).
CONTINUED = "(continued)"
OPENAI_CALL_ID_MAX = 40


class Unsupported(BadRequest):
    """The request cannot be expressed in the upstream's format."""

    code = "unsupported_for_upstream"


@dataclass(frozen=True, slots=True)
class Limits:
    temperature: float  # upper bound; the lower bound is 0 everywhere
    max_stops: int  # 0: the format has no stop sequences
    blank_ok: bool  # whitespace-only text and stop sequences are accepted
    top_k: bool
    seed: tuple[int, int] | None  # None: no seed field
    min_output: int
    name: re.Pattern[str]  # tool names (matched whole)
    name_max: int
    user_first: bool  # the first message must be the user's
    signed_reasoning: bool  # replays its own signed reasoning (Reasoning of this origin)


_OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
LIMITS: dict[str, Limits] = {
    "openai": Limits(
        temperature=2.0,
        max_stops=4,
        blank_ok=True,
        top_k=False,
        seed=INT64,
        min_output=1,
        name=_OPENAI_NAME,
        name_max=64,
        user_first=False,
        signed_reasoning=False,
    ),
    "responses": Limits(
        temperature=2.0,
        max_stops=0,
        blank_ok=True,
        top_k=False,
        seed=None,
        min_output=16,
        name=_OPENAI_NAME,
        name_max=64,
        user_first=False,
        signed_reasoning=False,
    ),
    "anthropic": Limits(
        temperature=1.0,
        max_stops=1 << 30,
        blank_ok=False,
        top_k=True,
        seed=None,
        min_output=1,
        name=re.compile(r"[a-zA-Z0-9_-]{1,128}"),
        name_max=128,
        user_first=True,
        signed_reasoning=True,
    ),
    "gemini": Limits(
        temperature=2.0,
        max_stops=5,
        blank_ok=True,
        top_k=True,
        seed=INT32,
        min_output=1,
        name=re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}"),
        name_max=64,
        user_first=True,
        signed_reasoning=True,
    ),
}
_BAD_NAME_CHARS = {
    "gemini": re.compile(r"[^a-zA-Z0-9_.:-]"),
    "other": re.compile(r"[^a-zA-Z0-9_-]"),
}


def conform(req: Request, target: Format, model: str) -> dict[str, str]:
    """Make `req` acceptable to `target` (in place). Returns {upstream tool name: client name}
    for every tool that had to be renamed, so the answer can carry the client's names."""
    limits = LIMITS[target]
    if req.system:
        req.system = [s for s in req.system if s and (limits.blank_ok or s.strip())]
    reasoning = reasoning_model(target, model)
    _sampling(req, limits, reasoning)
    if req.stop:
        _stops(req, limits, reasoning)
    if req.max_tokens is not None:
        _max_tokens(req, limits, target, model)
    req.messages = _messages(req, limits, target)
    _require_content(req, target)
    renamed = _rename_tools(req, target, limits) if req.tools or req.messages else {}
    _tool_choice(req)
    if target == "openai":
        _short_call_ids(req)
    return renamed


# ---------------------------------------------------------------- sampling and limits
def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _clamp(value: Any, high: float) -> float | None:
    number = _number(value)
    return None if number is None else min(max(number, 0.0), high)


def reasoning_model(target: Format, model: str) -> bool:
    """OpenAI's reasoning models refuse sampling overrides, `stop` and `max_tokens`."""
    if target not in ("openai", "responses"):
        return False
    info = catalog.lookup(model, "openai")
    return info is not None and info.kind == "effort"


def _sampling(req: Request, limits: Limits, reasoning: bool) -> None:
    if reasoning:
        req.temperature = req.top_p = None
    if req.temperature is not None:
        req.temperature = _clamp(req.temperature, limits.temperature)
    if req.top_p is not None:
        req.top_p = _clamp(req.top_p, 1.0)
    if req.top_k is not None:
        top_k = _integer(req.top_k)
        req.top_k = top_k if limits.top_k and top_k is not None and top_k >= 1 else None
    if req.seed is not None:
        seed, span = _integer(req.seed), limits.seed
        ok = span is not None and seed is not None and span[0] <= seed <= span[1]
        req.seed = seed if ok else None


def _stops(req: Request, limits: Limits, reasoning: bool) -> None:
    stops = [s for s in req.stop if isinstance(s, str) and s and (limits.blank_ok or s.strip())]
    req.stop = [] if reasoning else list(dict.fromkeys(stops))[: limits.max_stops]


def _max_tokens(req: Request, limits: Limits, target: Format, model: str) -> None:
    value = _integer(req.max_tokens)
    if value is None or value < 1:
        req.max_tokens = None
        return
    value = min(max(value, limits.min_output), INT32[1])  # no provider counts further
    info = catalog.lookup(model, target)
    if info is not None and info.max_output:
        value = min(value, info.max_output)
    req.max_tokens = value


# ---------------------------------------------------------------- messages
def _messages(req: Request, limits: Limits, target: Format) -> list[Message]:
    """Parts the target cannot take are dropped or refused, empty messages go, tool calls and
    results are paired, and the user speaks first."""
    out: list[Message] = []
    blank_ok = limits.blank_ok
    for msg in req.messages:
        parts: list[Part] = []
        for part in msg.parts:
            if type(part) is Text:  # the common case, inline
                if part.text and (blank_ok or not part.text.isspace()):
                    parts.append(part)
                continue
            kept = _part(part, limits, target)
            if kept is not None and not (msg.role == "assistant" and _no_media(kept, target)):
                parts.append(kept)
        if not parts:
            continue
        if out and _joins(out[-1], msg.role):
            out[-1].parts.extend(parts)
        else:
            out.append(Message(msg.role, parts))
    out = _pair_tools(out)
    if limits.user_first and out and out[0].role not in ("user", "system"):
        out.insert(0, Message("user", [Text(CONTINUED)]))
    return out


def _no_media(part: Part, target: Format) -> bool:
    """Only Gemini models answer with media: elsewhere an assistant turn carries none."""
    return target != "gemini" and isinstance(part, Media)


def _joins(previous: Message, role: str) -> bool:
    """Results of one turn's calls form one message, and so does an assistant turn whose calls
    are followed by more of its own content; other neighbours stay apart."""
    if previous.role != role:
        return False
    return role == "tool" or any(isinstance(p, ToolCall) for p in previous.parts)


def _part(part: Part, limits: Limits, target: Format) -> Part | None:
    if isinstance(part, Text):
        return part if part.text and (limits.blank_ok or not part.text.isspace()) else None
    if isinstance(part, Media):
        return _media(part, target)
    if isinstance(part, Reasoning):
        replayable = limits.signed_reasoning and part.origin == target and part.signature
        return part if replayable and part.text else None
    if isinstance(part, ToolResult):
        content = [c for c in (_part(c, limits, target) for c in part.content) if c is not None]
        part.content = [c for c in content if isinstance(c, Text | Media)]
        return part
    return part


def _media(part: Media, target: Format) -> Part | None:
    if part.data is not None:
        if not part.data:
            return None  # an empty attachment carries nothing
        if part.media_type.startswith("text/") and target != "gemini":
            return Text(_decoded(part))
    elif target != "gemini":
        _check_url(part.url or "")
    if target == "gemini" or part.media_type in IMAGE_TYPES:
        return part
    if part.media_type == PDF and (part.data is not None or target != "openai"):
        return part
    where = "by URL " if part.data is None else ""
    raise Unsupported(
        f"{_NAMES[target]} does not accept {part.media_type} attachments {where}"
        f"(images: {', '.join(sorted(IMAGE_TYPES))}; documents: PDF)"
    )


def _check_url(url: str) -> None:
    if _GOOGLE_FILES.match(url):
        raise Unsupported(f"the file {url[:100]} can only be read by a Gemini upstream")
    if not url.startswith(("http://", "https://")):
        raise Unsupported(f"attachment URL {url[:100]!r} is not an http(s) URL")


def _decoded(part: Media) -> str:
    try:
        return base64.b64decode(part.data or "", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unsupported(f"a {part.media_type} attachment is not base64 UTF-8 text") from None


_NAMES = {"openai": "OpenAI chat", "responses": "OpenAI Responses", "anthropic": "Claude"}
_NAMES["gemini"] = "Gemini"


def _require_content(req: Request, target: Format) -> None:
    if req.messages or (req.system and target in ("openai", "responses")):
        return
    raise Unsupported("the request has no message content the upstream can take")


# ---------------------------------------------------------------- tool calls and results
def _pair_tools(messages: list[Message]) -> list[Message]:
    """Every provider wants each tool call answered in the very next message, and each result
    to answer a call of the message before. A system message wedged in between is moved after
    the results; anything else unpaired is refused."""
    out: list[Message] = []
    pending: list[ToolCall] = []
    blank: list[ToolCall] = []
    deferred: list[Message] = []
    for msg in messages:
        if pending and msg.role == "system":
            deferred.append(msg)
            continue
        if msg.role == "tool":
            _answer(pending, blank, msg)
            pending = []
        elif pending:
            _unanswered(pending)
        out.append(msg)
        out.extend(deferred)
        deferred = []
        if msg.role == "assistant":
            pending = [p for p in msg.parts if isinstance(p, ToolCall)]
            blank = _fill_ids(pending)
    if pending:
        _unanswered(pending)
    return out + deferred


def _fill_ids(calls: list[ToolCall]) -> list[ToolCall]:
    """Calls without an id get one; results without an id answer them in order."""
    blank = [c for c in calls if not c.id]
    for n, call in enumerate(blank):
        call.id = f"call_{n}_{_digest(call.name, 8)}"
    return blank


def _answer(calls: list[ToolCall], blank: list[ToolCall], msg: Message) -> None:
    open_ids = {c.id: c for c in calls}
    unnamed = list(blank)
    for result in msg.parts:
        if not isinstance(result, ToolResult):
            continue
        if not result.call_id and unnamed:
            result.call_id = unnamed.pop(0).id
        call = open_ids.pop(result.call_id, None)
        if call is None:
            raise Unsupported(
                f"tool result for call {result.call_id!r} does not answer a tool call of the "
                "message before it"
            )
        result.name = result.name or call.name
    if open_ids:
        _unanswered(list(open_ids.values()))


def _unanswered(calls: list[ToolCall]) -> None:
    names = ", ".join(f"{c.name} ({c.id})" for c in calls)
    raise Unsupported(f"tool calls without a result in the next message: {names}")


def _tool_choice(req: Request) -> None:
    """A named choice must name a declared tool (a hosted tool was dropped): else auto."""
    choice = req.tool_choice
    if choice is not None and choice.mode == "tool" and choice.name not in _declared(req):
        req.tool_choice = None


def _declared(req: Request) -> set[str]:
    return {t.name for t in req.tools}


def _short_call_ids(req: Request) -> None:
    """OpenAI chat refuses tool call ids longer than 40 characters."""
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, ToolCall):
                part.id = _short_id(part.id)
            elif isinstance(part, ToolResult):
                part.call_id = _short_id(part.call_id)


def _short_id(value: str) -> str:
    if len(value) <= OPENAI_CALL_ID_MAX:
        return value
    return "call_" + _digest(value, 32)


# ---------------------------------------------------------------- tool names
def _rename_tools(req: Request, target: Format, limits: Limits) -> dict[str, str]:
    seen: set[str] = set()
    tools = []
    for tool in req.tools:
        if tool.name and tool.name not in seen:  # a name declared twice: the first one wins
            seen.add(tool.name)
            tools.append(tool)
    req.tools = tools
    names = tool_name_map(_all_names(req), target)
    if not names:
        return {}
    for tool in req.tools:
        tool.name = names.get(tool.name, tool.name)
    if req.tool_choice is not None and req.tool_choice.name in names:
        req.tool_choice = ToolChoice("tool", names[req.tool_choice.name])
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, ToolCall | ToolResult) and part.name in names:
                part.name = names[part.name or ""]
    return {new: old for old, new in names.items()}


def _all_names(req: Request) -> list[str]:
    names = [t.name for t in req.tools]
    for msg in req.messages:
        names.extend(p.name for p in msg.parts if isinstance(p, ToolCall))
    return list(dict.fromkeys(names))


def tool_name_map(names: list[str], target: Format) -> dict[str, str]:
    """{client name: upstream name} for the names `target` refuses; deterministic for a list."""
    limits = LIMITS[target]
    taken = {n for n in names if limits.name.fullmatch(n)}
    out: dict[str, str] = {}
    for name in names:
        if name in taken:
            continue
        new = _valid_name(name, target, limits.name_max)
        if new in taken:
            new = _with_hash(new, name, limits.name_max)
        taken.add(new)
        out[name] = new
    return out


def _valid_name(name: str, target: Format, limit: int) -> str:
    bad = _BAD_NAME_CHARS["gemini" if target == "gemini" else "other"]
    new = bad.sub("_", name) or "tool"
    if target == "gemini" and not (new[0].isascii() and (new[0].isalpha() or new[0] == "_")):
        new = "_" + new
    return new if len(new) <= limit else _with_hash(new, name, limit)


def _with_hash(new: str, original: str, limit: int) -> str:
    return new[: limit - 9] + "_" + _digest(original, 8)


def _digest(value: str, size: int) -> str:
    """A short stable tag that tells renamed values apart (not a security measure)."""
    return hashlib.blake2b(value.encode(), digest_size=16).hexdigest()[:size]
