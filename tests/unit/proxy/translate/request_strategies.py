"""Hypothesis strategies for client request bodies of the four formats: valid ones (shaped like
what the SDKs and CLIs send, with values every provider accepts) and mutations of them (a value
of the wrong type, a missing field, a subtree nested far too deep)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.unit.proxy.translate.bodies import PNG

Json = dict[str, Any]

# Text any JSON encoder can write (no lone surrogates) and that is never blank.
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
NAME = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
SCHEMA = st.fixed_dictionaries(
    {"type": st.just("object"), "properties": st.dictionaries(NAME, st.just({"type": "string"}))}
)
ARGS = st.dictionaries(NAME, st.one_of(TEXT, st.integers(-5, 5), st.booleans()), max_size=3)
SAMPLING = {
    "temperature": st.floats(0, 1, allow_nan=False),
    "top_p": st.floats(0.1, 1, allow_nan=False),
}


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Json]:
    return st.fixed_dictionaries({}, optional=fields)


def _with(required: dict[str, st.SearchStrategy[Any]], **optional: st.SearchStrategy[Any]):
    return st.fixed_dictionaries(required, optional=optional)


# ------------------------------------------------------------------ OpenAI chat / completions
_CHAT_PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.just({"url": f"data:image/png;base64,{PNG}"}),
        }
    ),
)
_CHAT_CALL = st.fixed_dictionaries(
    {
        "id": NAME.map(lambda s: f"call_{s}"),
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": NAME, "arguments": ARGS.map(json.dumps)}),
    }
)
_CHAT_MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.just("user"),
            "content": st.one_of(TEXT, st.lists(_CHAT_PART, min_size=1, max_size=3)),
        }
    ),
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": TEXT}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": TEXT}),
)


@st.composite
def _chat_tool_round(draw: st.DrawFn, round_no: int) -> list[Json]:
    """An assistant turn calling tools, then one tool message answering each call (OpenAI
    refuses a call left unanswered and an answer to no call)."""
    calls = draw(st.lists(_CHAT_CALL, min_size=1, max_size=2))
    for i, call in enumerate(calls):
        call["id"] = f"call_{round_no}_{i}"
    assistant = {"role": "assistant", "tool_calls": calls, **draw(_optional(content=TEXT))}
    answers = [{"role": "tool", "tool_call_id": c["id"], "content": draw(TEXT)} for c in calls]
    return [assistant, *answers]


@st.composite
def _chat_history(draw: st.DrawFn) -> list[Json]:
    out: list[Json] = []
    for round_no in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            out += draw(_chat_tool_round(round_no))
        else:
            out.append(draw(_CHAT_MESSAGE))
    return out


_CHAT_TOOL = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": _with({"name": NAME}, description=TEXT, parameters=SCHEMA),
    }
)


def chat(model: str) -> st.SearchStrategy[Json]:
    user = st.fixed_dictionaries({"role": st.just("user"), "content": TEXT})
    return _with(
        {
            "model": st.just(model),
            "messages": st.tuples(_chat_history(), user).map(lambda t: [*t[0], t[1]]),
        },
        max_tokens=st.integers(16, 500),
        stop=st.one_of(TEXT, st.lists(TEXT, min_size=1, max_size=2)),
        stream=st.booleans(),
        tools=st.lists(
            _CHAT_TOOL, min_size=1, max_size=2, unique_by=lambda t: t["function"]["name"]
        ),
        tool_choice=st.sampled_from(["auto", "none"]),
        seed=st.integers(0, 1000),
        user=NAME,
        **SAMPLING,
    )


def completions(model: str) -> st.SearchStrategy[Json]:
    return _with(
        {
            "model": st.just(model),
            "prompt": st.one_of(TEXT, st.lists(TEXT, min_size=1, max_size=2)),
        },
        max_tokens=st.integers(16, 500),
        stream=st.booleans(),
        **SAMPLING,
    )


# ------------------------------------------------------------------ Responses
_INPUT_PART = st.fixed_dictionaries({"type": st.just("input_text"), "text": TEXT})
_ITEM = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": TEXT}),
    st.fixed_dictionaries(
        {
            "type": st.just("message"),
            "role": st.sampled_from(["user", "developer"]),
            "content": st.lists(_INPUT_PART, min_size=1, max_size=2),
        }
    ),
)


@st.composite
def _responses_history(draw: st.DrawFn) -> list[Json]:
    """Messages and function calls, each call followed by its output (the Responses API refuses
    a call without an output and an output without its call)."""
    out: list[Json] = []
    for round_no in range(draw(st.integers(0, 3))):
        if not draw(st.booleans()):
            out.append(draw(_ITEM))
            continue
        call_id = f"call_{round_no}"
        arguments = json.dumps(draw(ARGS))
        call = {"type": "function_call", "call_id": call_id, "name": draw(NAME)}
        out += [
            {**call, "arguments": arguments},
            {"type": "function_call_output", "call_id": call_id, "output": draw(TEXT)},
        ]
    return out


_RESPONSES_TOOL = _with(
    {"type": st.just("function"), "name": NAME}, description=TEXT, parameters=SCHEMA
)


def responses(model: str) -> st.SearchStrategy[Json]:
    last = st.fixed_dictionaries({"role": st.just("user"), "content": TEXT})
    items = st.tuples(_responses_history(), last).map(lambda t: [*t[0], t[1]])
    return _with(
        {"model": st.just(model), "input": st.one_of(TEXT, items)},
        instructions=TEXT,
        max_output_tokens=st.integers(16, 500),
        stream=st.booleans(),
        tools=st.lists(_RESPONSES_TOOL, min_size=1, max_size=2, unique_by=lambda t: t["name"]),
        reasoning=st.just({"effort": "low"}),
    )  # no temperature or top_p: the reasoning models behind the Responses API refuse them


# ------------------------------------------------------------------ Anthropic
_TEXT_BLOCK = st.fixed_dictionaries({"type": st.just("text"), "text": TEXT})
_USER_BLOCK = st.one_of(
    _TEXT_BLOCK,
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source": st.just({"type": "base64", "media_type": "image/png", "data": PNG}),
        }
    ),
)
_TOOL_USE = st.fixed_dictionaries({"type": st.just("tool_use"), "name": NAME, "input": ARGS})
_RESULT_CONTENT = st.one_of(TEXT, st.lists(_TEXT_BLOCK, min_size=1, max_size=2))


@st.composite
def _conversation(draw: st.DrawFn) -> list[Json]:
    """User and assistant turns; each assistant tool_use is answered by a tool_result at the
    start of the next user turn (Claude refuses a call left unanswered or an answer to no call).
    Claude Code also puts system entries inside messages, so one may come before the last turn."""
    out: list[Json] = []
    answers: list[Json] = []
    for turn in range(draw(st.integers(0, 2))):
        user = draw(st.one_of(TEXT, st.lists(_USER_BLOCK, min_size=1, max_size=2)))
        out.append({"role": "user", "content": _after(answers, user)})
        calls = draw(st.lists(_TOOL_USE, max_size=2))
        for i, call in enumerate(calls):
            call["id"] = f"toolu_{turn}_{i}"
        text = draw(st.lists(_TEXT_BLOCK, min_size=0 if calls else 1, max_size=1))
        out.append({"role": "assistant", "content": [*text, *calls]})
        answers = [_result(c["id"], draw(_RESULT_CONTENT)) for c in calls]
    if not answers and draw(st.booleans()):
        out.append({"role": "system", "content": draw(TEXT)})
    return [*out, {"role": "user", "content": _after(answers, draw(TEXT))}]


def _result(tool_use_id: str, content: Any) -> Json:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}


def _after(answers: list[Json], content: Any) -> Any:
    """A user turn's content with the previous turn's tool results first."""
    if not answers:
        return content
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return [*answers, *blocks]


_ANTHROPIC_TOOL = _with({"name": NAME, "input_schema": SCHEMA}, description=TEXT)


def messages(model: str, *, counting: bool = False) -> st.SearchStrategy[Json]:
    required = {
        "model": st.just(model),
        "messages": _conversation(),
    }
    if not counting:
        required["max_tokens"] = st.integers(16, 500)
    return _with(
        required,
        system=st.one_of(TEXT, st.lists(_TEXT_BLOCK, min_size=1, max_size=2)),
        tools=st.lists(_ANTHROPIC_TOOL, min_size=1, max_size=2, unique_by=lambda t: t["name"]),
        stream=st.just(False) if counting else st.booleans(),
        stop_sequences=st.lists(TEXT, min_size=1, max_size=2),
        top_k=st.integers(1, 40),
        metadata=st.just({"user_id": "u-1"}),
        **SAMPLING,
    ).filter(lambda b: "temperature" not in b or "top_p" not in b)  # Claude takes one of them


# ------------------------------------------------------------------ Gemini
_PART = st.one_of(
    st.fixed_dictionaries({"text": TEXT}),
    st.just({"inlineData": {"mimeType": "image/png", "data": PNG}}),
)
_CALL_PART = st.fixed_dictionaries(
    {"functionCall": st.fixed_dictionaries({"name": NAME, "args": ARGS})}
)


@st.composite
def _contents(draw: st.DrawFn) -> list[Json]:
    """User and model turns; a model turn with function calls is followed by a user turn with
    exactly as many function responses (Gemini refuses anything else)."""
    out: list[Json] = []
    for _ in range(draw(st.integers(0, 2))):
        out.append({"role": "user", "parts": draw(st.lists(_PART, min_size=1, max_size=2))})
        calls = draw(st.lists(_CALL_PART, max_size=2))
        if not calls:
            out.append({"role": "model", "parts": [{"text": draw(TEXT)}]})
            continue
        out.append({"role": "model", "parts": calls})
        answers = [_response(c["functionCall"]["name"], draw(TEXT)) for c in calls]
        out.append({"role": "user", "parts": answers})
        out.append({"role": "model", "parts": [{"text": draw(TEXT)}]})
    return [*out, {"role": "user", "parts": [{"text": draw(TEXT)}]}]


def _response(name: str, text: str) -> Json:
    return {"functionResponse": {"name": name, "response": {"result": text}}}


_DECLARATION = _with(
    {"name": NAME},
    description=TEXT,
    parameters=st.just({"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}),
)


def generate(*, counting: bool = False) -> st.SearchStrategy[Json]:
    body = _with(
        {"contents": _contents()},
        systemInstruction=st.fixed_dictionaries(
            {"parts": st.lists(st.fixed_dictionaries({"text": TEXT}), min_size=1, max_size=2)}
        ),
        tools=st.lists(
            st.fixed_dictionaries(
                {
                    "functionDeclarations": st.lists(
                        _DECLARATION, min_size=1, max_size=2, unique_by=lambda d: d["name"]
                    )
                }
            ),
            min_size=1,
            max_size=1,
        ),
        generationConfig=_optional(
            temperature=st.floats(0, 1, allow_nan=False),
            maxOutputTokens=st.integers(16, 500),
            topK=st.integers(1, 40),
            stopSequences=st.lists(TEXT, min_size=1, max_size=2),
        ),
    )
    return body.map(lambda b: {"contents": b["contents"]}) if counting else body


# ------------------------------------------------------------------ mutations
_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(NAME, st.integers(), max_size=2),
)


def nested(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


_DEEP = st.builds(nested, st.integers(65, 400), st.sampled_from(["list", "dict"]))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(body: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(body) if isinstance(body, dict) else list(body)
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = _replace(body[head], rest, new, delete)
    return copy


# Types of blocks, parts, items and tools in any of the four formats, plus unknown ones: a
# block retyped keeps its old fields, which then belong to the wrong type.
_TYPES = st.sampled_from(
    [
        "text",
        "image",
        "image_url",
        "tool_use",
        "tool_result",
        "thinking",
        "input_text",
        "function",
        "function_call",
        "function_call_output",
        "message",
        "custom",
        "namespace",
        "never_heard_of_it",
    ]
)
_JUNK = st.dictionaries(
    st.sampled_from(["text", "content", "name", "id", "input", "source", "arguments", "role"]),
    _WRONG,
    min_size=1,
    max_size=3,
)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Json]) -> Json:
    """A valid body with one node replaced by a wrong-typed or deeply nested value, one object
    key removed, or one object retyped and given junk fields (the body itself may become a
    list or a scalar)."""
    body = draw(valid)
    paths = _paths(body)
    path = draw(st.sampled_from(paths))
    typed = [p for p in paths if _at(body, p, dict) and "type" in _get(body, p)]
    if typed and draw(st.booleans()):
        path = draw(st.sampled_from(typed))
        node = {**_get(body, path), **draw(_JUNK), "type": draw(_TYPES)}
        return _replace(body, path, node, False)
    delete = bool(path) and isinstance(path[-1], str) and draw(st.booleans())
    new = draw(st.one_of(_WRONG, _DEEP))
    return _replace(body, path, new, delete)


def _get(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        body = body[step]
    return body


def _at(body: Any, path: tuple[Any, ...], kind: type) -> bool:
    return isinstance(_get(body, path), kind)
