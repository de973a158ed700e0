"""Local stand-ins for the LLM providers of root-cause analysis, checking what the real services check
and answering with their shapes and errors (sources: `alertagent.clients.llm`'s module docstring):

- `OpenAIStandIn` — `POST /v1/chat/completions`: `Authorization: Bearer <key>` (401 "You didn't provide
  an API key…" / `invalid_api_key` "Incorrect API key provided: <masked key>", short keys echoed
  whole, as OpenAI does); a JSON body with `model` (404 `model_not_found` for another), non-empty
  `messages` with roles system/developer/user/assistant/tool, an assistant's `tool_calls` answered by
  one tool message per id before anything else, a tool message only for a pending id; `tools` as
  `{"type": "function", "function": {"name" ^[a-zA-Z0-9_-]{1,64}$, "parameters"?: object}}`;
  `tool_choice` only with tools; `max_tokens` ≥ 1; `temperature` in [0, 2]. Errors are OpenAI's
  `{"error": {"message", "type", "param", "code"}}`. Scripted: `script` items are lists of tool calls
  `(name, arguments)` or the final content (a string); the step served is the number of assistant
  messages already in the conversation (stateless, so parallel analyses each follow the script), and
  `tool_choice: "none"` gets the final content. Usage: prompt tokens = request bytes / 4, completion
  tokens = answer bytes / 4; content over `max_tokens` is cut, with `finish_reason: "length"`.
- `DifyStandIn` — `POST /v1/chat-messages` (a chat app) or `/v1/workflows/run` (a workflow app; the
  other route answers `not_chat_app` / `not_workflow_app`): Bearer app key (401 `unauthorized`),
  `inputs` an object whose `required_inputs` are present strings ("<var> is required in input form"),
  `user` ("user is required"), `response_mode` blocking (streaming is not served here), chat `query`;
  errors `{"code", "message", "status"}`. Scripted answer, workflow `status`/`error`, `total_tokens`.
- `N8nStandIn` — `POST /webhook/<path>` (404 "The requested webhook "POST x" is not registered."),
  optional Header Auth (403 text "Authorization data is wrong!"); answers `answer` as JSON, or `text`
  as text/html, or `{"message": "Workflow was started"}` in `respond="immediately"` mode, or 500
  "Error in workflow" in `respond="error"` mode.

Each records every request (path, headers, raw body bytes, parsed JSON) so a test can assert what was
sent and that no canary secret appears in any body; `latency` delays answers. Start them with
`devstack.robots.running(...)`."""

from __future__ import annotations

import json
import math
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from .processes import serve_http, stop_http

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

Answer = tuple[int, Any, str]  # HTTP status, body (JSON value, or text), content type


@dataclass
class Recorded:
    """One request a stand-in received."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int = 0


class _StandIn:
    """A threaded HTTP server on 127.0.0.1 answering POSTs through `handle`."""

    port: int
    latency: float
    requests: list[Recorded]

    def __post_init__(self) -> None:  # the dataclasses below call it
        self._setup()

    @property
    def base_url(self) -> str:
        """What a provider is configured with (OpenAI's and Dify's API base)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Any:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK hold the body ~40 ms on a kept-alive connection.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = None
                record = Recorded(self.path, headers, raw, body)
                if stand_in.latency:
                    time.sleep(stand_in.latency)
                status, answer, content_type = stand_in.handle(record)
                record.status = status
                with stand_in._lock:
                    stand_in.requests.append(record)
                data = answer.encode() if content_type.startswith("text/") else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if status in (401, 403) and content_type.startswith("text/"):
                    self.send_header("WWW-Authenticate", 'Basic realm="Webhook"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve_http(Handler, self.port, poll=0.05)  # quick stop()
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_http(self._server)
            self._server = None

    def handle(self, record: Recorded) -> Answer:
        raise NotImplementedError

    def accepted(self) -> list[Recorded]:
        """The requests answered 2xx, in order."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def sent_bytes(self) -> bytes:
        """Every request's path and body, concatenated (to search for canary secrets)."""
        with self._lock:
            return b"\n".join(r.path.encode() + b"\n" + r.raw for r in self.requests)


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# -- OpenAI ----------------------------------------------------------------------------------------

ToolCallScript = list[tuple[str, dict[str, Any] | str]]


def _openai_error(status: int, message: str, param: str | None = None, code: str | None = None) -> Answer:
    kind = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, "application/json"


def mask_key(key: str) -> str:
    """How OpenAI's 401 shows a refused key: `sk-***…abcd`; keys under 8 characters whole."""
    return key if len(key) < 8 else key[:3] + "*" * (len(key) - 7) + key[-4:]


@dataclass
class OpenAIStandIn(_StandIn):
    """An OpenAI chat completions stand-in; `base_url` is what a provider is configured with."""

    script: list[ToolCallScript | str] = field(default_factory=lambda: ['{"root_cause": "unknown"}'])
    model: str = "gpt-test"
    api_key: str = field(default_factory=lambda: "sk-test-" + secrets.token_hex(12))
    latency: float = 0.0
    report_usage: bool = True
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)

    def handle(self, record: Recorded) -> Answer:
        if record.path.split("?")[0] != "/v1/chat/completions":
            return _openai_error(404, f"Invalid URL (POST {record.path})")
        key = _bearer(record.headers)
        if key is None:
            return _openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if key != self.api_key:
            return _openai_error(
                401,
                f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        body = record.body
        if not isinstance(body, dict):
            return _openai_error(400, "We could not parse the JSON body of your request.")
        problem = check_chat_request(body)
        if problem is not None:
            return problem
        if body["model"] != self.model:
            return _openai_error(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return 200, self._complete(body, len(record.raw)), "application/json"

    def _complete(self, body: dict[str, Any], size: int) -> dict[str, Any]:
        step = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        item = self.script[step] if step < len(self.script) else self.script[-1]
        if body.get("tool_choice") == "none" or not body.get("tools"):
            item = next((s for s in reversed(self.script) if isinstance(s, str)), "")
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if isinstance(item, str):
            content = item
            limit = body.get("max_tokens")
            if isinstance(limit, int) and math.ceil(len(content.encode()) / 4) > limit:
                content, finish = content[: limit * 4], "length"
            message["content"] = content
            completion = math.ceil(len(content.encode()) / 4)
        else:
            calls = [
                {
                    "id": f"call_{step}_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
                }
                for index, (name, args) in enumerate(item)
            ]
            message["tool_calls"] = calls
            finish = "tool_calls"
            completion = math.ceil(len(json.dumps(calls).encode()) / 4)
        prompt = math.ceil(size / 4)
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{secrets.token_hex(8)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        }
        if self.report_usage:
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return answer


def check_chat_request(body: dict[str, Any]) -> Answer | None:
    """The checks OpenAI makes of a chat completions body (400 with its messages), or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _openai_error(400, "you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _openai_error(
            400, "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages"
        )
    pending: list[str] = []  # tool_call ids of the last assistant message still unanswered
    for index, message in enumerate(messages):
        param = f"messages.[{index}]"
        if not isinstance(message, dict):
            return _openai_error(400, f"Invalid type for '{param}': expected an object.", param)
        role = message.get("role")
        if role not in OPENAI_ROLES:
            supported = ", ".join(f"'{r}'" for r in OPENAI_ROLES)
            return _openai_error(400, f"Invalid value: '{role}'. Supported values are: {supported}.", f"{param}.role")
        if role != "tool" and pending:
            return _openai_error(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
                f"{param}.role",
            )
        content = message.get("content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return _openai_error(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    f"{param}.role",
                )
            pending.remove(call_id)
            if not isinstance(content, str):
                return _openai_error(400, f"Invalid type for '{param}.content': expected a string.", f"{param}.content")
        elif role == "assistant":
            calls = message.get("tool_calls")
            if content is None and not calls:
                return _openai_error(
                    400, f"Invalid value for '{param}.content': expected content or tool_calls.", f"{param}.content"
                )
            if content is not None and not isinstance(content, str | list):
                return _openai_error(400, f"Invalid type for '{param}.content'.", f"{param}.content")
            for number, call in enumerate(calls or []):
                where = f"{param}.tool_calls.[{number}]"
                function = call.get("function") if isinstance(call, dict) else None
                if (
                    not isinstance(call, dict)
                    or not isinstance(call.get("id"), str)
                    or call.get("type") != "function"
                    or not isinstance(function, dict)
                    or not isinstance(function.get("name"), str)
                    or not isinstance(function.get("arguments"), str)
                ):
                    return _openai_error(
                        400,
                        f"Invalid '{where}': expected {{id, type: 'function', function: {{name, arguments}}}}.",
                        where,
                    )
                pending.append(call["id"])
        elif not isinstance(content, str | list) or not content:
            return _openai_error(400, f"Invalid type for '{param}.content': expected a string.", f"{param}.content")
    if pending:
        return _openai_error(
            400,
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
            f"messages.[{len(messages) - 1}].role",
        )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return _openai_error(400, "Invalid type for 'tools': expected an array.", "tools")
        for index, tool in enumerate(tools):
            where = f"tools[{index}]"
            if not isinstance(tool, dict) or tool.get("type") != "function":
                return _openai_error(400, f"Invalid value for '{where}.type': expected 'function'.", f"{where}.type")
            function = tool.get("function")
            if not isinstance(function, dict):
                return _openai_error(400, f"Missing required parameter: '{where}.function'.", f"{where}.function")
            name = function.get("name")
            if not isinstance(name, str) or TOOL_NAME_RE.match(name) is None:
                return _openai_error(
                    400,
                    f"Invalid '{where}.function.name': string does not match pattern. Expected a string that "
                    "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"{where}.function.name",
                )
            parameters = function.get("parameters")
            if parameters is not None and (not isinstance(parameters, dict) or parameters.get("type") != "object"):
                return _openai_error(
                    400,
                    f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"'.",
                    f"{where}.function.parameters",
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            return _openai_error(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        if choice not in ("none", "auto", "required") and not (
            isinstance(choice, dict) and choice.get("type") == "function"
        ):
            return _openai_error(400, f"Invalid value for 'tool_choice': {choice!r}.", "tool_choice")
    limit = body.get("max_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return _openai_error(
            400,
            f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            "max_tokens",
        )
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        return _openai_error(400, "Invalid 'temperature': expected a number between 0 and 2.", "temperature")
    if body.get("stream"):
        return _openai_error(400, "stream is not served by this stand-in", "stream")
    return None


# -- Dify ------------------------------------------------------------------------------------------


def _dify_error(status: int, code: str, message: str) -> Answer:
    return status, {"code": code, "message": message, "status": status}, "application/json"


@dataclass
class DifyStandIn(_StandIn):
    """A Dify app stand-in. app: "chat" (chat-messages) or "workflow" (workflows/run); answer: the chat
    answer; outputs/status/error: the workflow run's; tokens: the total_tokens reported."""

    app: Literal["chat", "workflow"] = "chat"
    answer: str = '{"root_cause": "unknown"}'
    outputs: dict[str, Any] = field(default_factory=lambda: {"text": '{"root_cause": "unknown"}'})
    status: str = "succeeded"
    error: str | None = None
    tokens: int = 321
    required_inputs: tuple[str, ...] = ()
    api_key: str = field(default_factory=lambda: "app-" + secrets.token_hex(12))
    latency: float = 0.0
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)

    def handle(self, record: Recorded) -> Answer:
        path = record.path.split("?")[0]
        if path not in ("/v1/chat-messages", "/v1/workflows/run"):
            return _dify_error(404, "not_found", "The requested URL was not found on the server.")
        if "authorization" not in record.headers or _bearer(record.headers) is None:
            return _dify_error(401, "unauthorized", "Authorization header must be provided and start with 'Bearer'")
        if _bearer(record.headers) != self.api_key:
            return _dify_error(401, "unauthorized", "Access token is invalid")
        if path == "/v1/chat-messages" and self.app != "chat":
            return _dify_error(400, "not_chat_app", "Please check if your app mode matches the right API route.")
        if path == "/v1/workflows/run" and self.app != "workflow":
            return _dify_error(400, "not_workflow_app", "Please check if your app mode matches the right API route.")
        body = record.body
        if not isinstance(body, dict):
            return _dify_error(
                400, "bad_request", "The browser (or proxy) sent a request that this server could not understand."
            )
        inputs = body.get("inputs")
        if not isinstance(inputs, dict):
            return _dify_error(400, "invalid_param", "inputs is required")
        if not isinstance(body.get("user"), str) or not body["user"]:
            return _dify_error(400, "invalid_param", "user is required")
        if body.get("response_mode") not in ("blocking", "streaming"):
            return _dify_error(400, "invalid_param", "response_mode must be blocking or streaming")
        if body["response_mode"] != "blocking":
            return _dify_error(400, "invalid_param", "this stand-in answers blocking mode only")
        for name in self.required_inputs:
            if not inputs.get(name):
                return _dify_error(400, "invalid_param", f"{name} is required in input form")
            if not isinstance(inputs[name], str):
                return _dify_error(400, "invalid_param", f"{name} in input form must be a string")
        now = int(time.time())
        if self.app == "chat":
            if not isinstance(body.get("query"), str) or not body["query"]:
                return _dify_error(400, "invalid_param", "query is required")
            message_id = secrets.token_hex(8)
            return (
                200,
                {
                    "event": "message",
                    "task_id": secrets.token_hex(8),
                    "id": message_id,
                    "message_id": message_id,
                    "conversation_id": secrets.token_hex(8),
                    "mode": "advanced-chat",
                    "answer": self.answer,
                    "metadata": {"usage": {"total_tokens": self.tokens, "currency": "USD"}, "retriever_resources": []},
                    "created_at": now,
                },
                "application/json",
            )
        run_id = secrets.token_hex(8)
        return (
            200,
            {
                "workflow_run_id": run_id,
                "task_id": secrets.token_hex(8),
                "data": {
                    "id": run_id,
                    "workflow_id": "wf-1",
                    "status": self.status,
                    "outputs": self.outputs if self.status == "succeeded" else None,
                    "error": self.error,
                    "elapsed_time": 0.1,
                    "total_tokens": self.tokens,
                    "total_steps": 3,
                    "created_at": now,
                    "finished_at": now,
                },
            },
            "application/json",
        )


# -- n8n -------------------------------------------------------------------------------------------


@dataclass
class N8nStandIn(_StandIn):
    """An n8n webhook stand-in at `/webhook/<path>`. answer: the JSON it responds with; text: respond
    with text instead; header: (name, value) for Header Auth; respond: "result", "immediately" (n8n's
    "Workflow was started") or "error" (the workflow fails)."""

    path: str = "alertagent-rca"
    answer: Any = field(default_factory=lambda: {"root_cause": "unknown"})
    text: str | None = None
    header: tuple[str, str] | None = None
    respond: Literal["result", "immediately", "error"] = "result"
    latency: float = 0.0
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/{self.path}"

    def payloads(self) -> list[Any]:
        return [r.body for r in self.accepted()]

    def handle(self, record: Recorded) -> Answer:
        path = record.path.split("?")[0].removeprefix("/webhook/")
        if path != self.path:
            return (
                404,
                {
                    "code": 404,
                    "message": f'The requested webhook "POST {path}" is not registered.',
                    "hint": "The workflow must be active for a production URL to run successfully.",
                },
                "application/json",
            )
        if self.header is not None:
            name, value = self.header
            if record.headers.get(name.lower()) != value:
                return 403, "Authorization data is wrong!", "text/plain; charset=utf-8"
        if self.respond == "immediately":
            return 200, {"message": "Workflow was started"}, "application/json"
        if self.respond == "error":
            return 500, {"code": 0, "message": "Error in workflow"}, "application/json"
        if self.text is not None:
            return 200, self.text, "text/html; charset=utf-8"
        return 200, self.answer, "application/json; charset=utf-8"
