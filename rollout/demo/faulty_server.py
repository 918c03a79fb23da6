"""`python -m rollout.demo.faulty_server --fail-every N <llama_cpp.server options>`: the demo's failing green.

It is llama_cpp.server, started as `python -m llama_cpp.server` starts it (no config file), with one fault in
front of the app: every N-th non-streaming chat completion is answered with a 500 and never reaches the model.
Streaming requests (the eval runner's) are all answered, so the offline gates see a healthy server and only
the traffic users send through the router shows the fault: a bug in one code path, as real ones are.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

FAILURE = json.dumps({"error": {"message": "injected failure (rollout demo --scenario live-errors)", "code": 500}})


class FailEvery:
    """ASGI middleware: the N-th, 2N-th, ... non-streaming POST /v1/chat/completions gets a 500."""

    def __init__(self, app: App, every: int) -> None:
        self.app, self.every, self.seen = app, every, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            await self.app(scope, receive, send)
            return
        messages = [await receive()]
        while messages[-1].get("more_body"):
            messages.append(await receive())
        body = b"".join(m.get("body", b"") for m in messages)
        try:
            streaming = bool(json.loads(body).get("stream"))
        except (ValueError, AttributeError):
            streaming = False
        failing = False
        if not streaming:  # one event loop, no await in between: the count needs no lock
            self.seen += 1
            failing = self.seen % self.every == 0
        if failing:
            await send(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": FAILURE.encode()})
            return

        async def again() -> Message:
            # The body once more, then the real channel: a streaming response waits on it for the disconnect.
            return messages.pop(0) if messages else await receive()

        await self.app(scope, again, send)


def main(argv: list[str] | None = None) -> None:
    # Imported here: the demo's server needs llama-cpp-python[server], the rest of rollout does not.
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fail-every", type=int, required=True, help="answer every N-th request with a 500")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(argv)
    # llama_cpp annotates these as returning the class they are given; they return an instance of it.
    server = cast(ServerSettings, parse_model_from_args(ServerSettings, args))
    model = cast(ModelSettings, parse_model_from_args(ModelSettings, args))
    app = create_app(server_settings=server, model_settings=[model])
    uvicorn.run(FailEvery(app, args.fail_every), host=server.host, port=server.port)


if __name__ == "__main__":
    main()
