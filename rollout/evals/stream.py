"""Read an OpenAI chat-completions answer: the server-sent-event stream, or a whole JSON body.

Parsing is incremental and cheap (bytes split on newlines, one json.loads per event) because the
runner does this for every chunk of every request. Output tokens come from `usage`; a server that
sends none (llama_cpp.server ignores stream_options) is counted by its text chunks, one token each,
which is how such servers stream.
"""

from __future__ import annotations

import json
from typing import Any


class BadResponse(Exception):
    """The server answered, but not with a chat completion we can read."""


def _content(choice: Any, key: str) -> str:
    try:
        content = choice[key].get("content") if choice.get(key) else None
    except (AttributeError, TypeError):
        raise BadResponse(f"unexpected choice shape: {str(choice)[:120]}") from None
    return content if isinstance(content, str) else ""


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _tokens(usage: Any) -> int | None:
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0 else None


class ChatStream:
    """Incremental parser of a `stream: true` chat completion."""

    __slots__ = ("_buffer", "_parts", "choices_seen", "done", "tokens")

    def __init__(self) -> None:
        self._buffer = b""
        self._parts: list[str] = []
        self.choices_seen = False
        self.done = False
        self.tokens: int | None = None

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True if they carried answer text."""
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        got = False
        for line in lines:
            if line.startswith(b"data:") and self._event(line[5:].strip()):
                got = True
        return got

    def _event(self, payload: bytes) -> bool:
        if self.done or not payload:
            return False
        if payload == b"[DONE]":
            self.done = True
            return False
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise BadResponse(f"malformed stream chunk: {payload[:120].decode(errors='replace')!r}") from None
        if not isinstance(chunk, dict):
            raise BadResponse(f"stream chunk is not a JSON object: {payload[:120].decode(errors='replace')!r}")
        if "error" in chunk:
            raise BadResponse(f"the server reported an error mid-stream: {_error_message(chunk['error'])}")
        usage = chunk.get("usage")
        if usage:
            self.tokens = _tokens(usage)
        choices = chunk.get("choices")
        if not choices:
            return False
        if not isinstance(choices, list):
            raise BadResponse(f"'choices' is not a list: {str(choices)[:120]}")
        self.choices_seen = True
        text = _content(choices[0], "delta")
        if text:
            self._parts.append(text)
            return True
        return False

    def finish(self) -> tuple[str, int | None]:
        """The whole answer and its output token count; BadResponse if no choice ever arrived."""
        if self._buffer.strip():
            line, self._buffer = self._buffer, b""
            if line.startswith(b"data:"):
                self._event(line[5:].strip())
        if not self.choices_seen:
            raise BadResponse("the response had no choices (empty choice list)")
        return "".join(self._parts), len(self._parts) if self.tokens is None else self.tokens


def parse_completion(body: bytes) -> tuple[str, int | None]:
    """A non-streamed chat completion (some servers ignore `stream: true`)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadResponse(f"the response is not JSON: {body[:120].decode(errors='replace')!r}") from None
    if not isinstance(data, dict):
        raise BadResponse(f"the response is not a JSON object: {body[:120].decode(errors='replace')!r}")
    if "error" in data:
        raise BadResponse(f"the server reported an error: {_error_message(data['error'])}")
    choices = data.get("choices")
    if not choices or not isinstance(choices, list):
        raise BadResponse("the response had no choices (empty choice list)")
    return _content(choices[0], "message"), _tokens(data.get("usage"))
