"""Drive a running Skipper server with the official ``openai`` client and check every answer:
OpenAI shapes (plain and streamed, same text), declared errors, and structured output validated
by ``jsonschema`` against 24 schemas. Used by the server's Java tests (``SkipperServerTest``) and
runnable by hand: ``python -m skipper_export.bench.openai_check --base-url http://127.0.0.1:8080/v1``.
Prints one JSON summary line; exits 1 with the first failure on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"action": {"enum": ["go", "stop", "dock"]},
                                      "target": {"type": "string", "maxLength": 16}},
     "required": ["action", "target"], "additionalProperties": False},
    {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4},
    {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    {"type": "string", "maxLength": 12},
    {"type": "string", "minLength": 2, "maxLength": 6},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {"enum": ["red", "green", "blue", 3, None]},
    {"const": {"ok": True}},
    {"anyOf": [{"type": "null"}, {"type": "integer"}]},
    {"type": ["string", "integer"], "maxLength": 5},
    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
                                      "tags": {"type": "array", "items": {"type": "string", "maxLength": 6},
                                               "maxItems": 3}},
     "required": ["name"], "additionalProperties": False},
    {"type": "object", "properties": {"pose": {"type": "object", "properties": {
        "x": {"type": "number"}, "y": {"type": "number"}, "theta": {"type": "number"}},
        "required": ["x", "y", "theta"], "additionalProperties": False}},
     "required": ["pose"], "additionalProperties": False},
    {"type": "object", "properties": {"steps": {"type": "array", "maxItems": 3, "items": {
        "type": "object", "properties": {"verb": {"enum": ["move", "grip", "wait"]}, "arg": {"type": "integer"}},
        "required": ["verb"], "additionalProperties": False}}}, "required": ["steps"], "additionalProperties": False},
    {"$defs": {"p": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                     "required": ["lat", "lon"], "additionalProperties": False}},
     "type": "object", "properties": {"from": {"$ref": "#/$defs/p"}, "to": {"$ref": "#/$defs/p"}},
     "required": ["from", "to"], "additionalProperties": False},
    {"definitions": {"c": {"enum": ["a", "b"]}}, "type": "array", "items": {"$ref": "#/definitions/c"},
     "minItems": 2, "maxItems": 2},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "reason": {"anyOf": [
        {"type": "null"}, {"type": "string", "maxLength": 8}]}}, "required": ["ok", "reason"],
     "additionalProperties": False},
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}},
     "additionalProperties": False},
    {"title": "T", "description": "annotated", "type": "object", "properties": {
        "v": {"type": "string", "maxLength": 4, "description": "value"}}, "required": ["v"]},
    {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "maxItems": 2},
]


def fail(msg: str) -> None:
    print(f"openai check failed: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default="unused")
    a = p.parse_args(argv)

    import jsonschema
    import openai

    client = openai.OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0, timeout=120)
    models = [m.id for m in client.models.list().data]
    if models != [a.model]:
        fail(f"models.list gave {models}")
    msgs = [{"role": "user", "content": "Name three colours."}]
    r = client.chat.completions.create(model=a.model, messages=msgs, max_tokens=16, temperature=0)
    if r.object != "chat.completion" or r.choices[0].message.role != "assistant":
        fail(f"unexpected shape {r}")
    if r.usage is None or r.usage.completion_tokens < 1:
        fail("no usage")
    streamed, usage = [], None
    for chunk in client.chat.completions.create(model=a.model, messages=msgs, max_tokens=16, temperature=0,
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                streamed.append(c.delta.content)
    if "".join(streamed) != r.choices[0].message.content:
        fail(f"streamed {''.join(streamed)!r} != plain {r.choices[0].message.content!r}")
    if usage is None or usage.completion_tokens != r.usage.completion_tokens:
        fail(f"stream usage {usage} vs {r.usage}")
    t = client.completions.create(model=a.model, prompt="Once upon a time", max_tokens=8, temperature=0)
    if t.object != "text_completion" or not isinstance(t.choices[0].text, str):
        fail(f"completions shape {t}")
    try:
        client.chat.completions.create(model=a.model, messages=msgs, n=2)
        fail("n=2 was accepted")
    except openai.BadRequestError as e:
        if (e.body or {}).get("param") != "n":
            fail(f"n=2 error names {e.body}")
    try:
        client.chat.completions.create(model="no-such-model", messages=msgs)
        fail("an unknown model was accepted")
    except openai.NotFoundError:
        pass
    valid = 0
    for i, schema in enumerate(SCHEMAS):
        r = client.chat.completions.create(
            model=a.model, messages=[{"role": "user", "content": f"Answer as JSON ({i})."}], max_tokens=300,
            temperature=0, response_format={"type": "json_schema",
                                            "json_schema": {"name": f"s{i}", "schema": schema, "strict": True}})
        choice = r.choices[0]
        if choice.finish_reason != "stop":
            fail(f"schema {i}: did not finish ({choice.finish_reason}): {choice.message.content!r}")
        try:
            doc = json.loads(choice.message.content)
            jsonschema.validate(doc, schema)
        except (ValueError, jsonschema.ValidationError) as e:
            fail(f"schema {i}: {choice.message.content!r} does not validate: {str(e).splitlines()[0]}")
        valid += 1
    r = client.chat.completions.create(model=a.model, messages=msgs, max_tokens=300, temperature=0,
                                       response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop" and not isinstance(json.loads(r.choices[0].message.content), dict):
        fail(f"json_object gave {r.choices[0].message.content!r}")
    try:
        client.chat.completions.create(model=a.model, messages=msgs, response_format={
            "type": "json_schema", "json_schema": {"name": "bad", "schema": {"type": "string", "format": "email"}}})
        fail("an unsupported schema keyword was accepted")
    except openai.BadRequestError as e:
        if "format" not in str(e):
            fail(f"the refusal does not name the keyword: {e}")
    print(json.dumps({"schemas_validated": valid, "streamed_equals_plain": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
