"""LLM providers for root-cause analysis, over httpx (asyncio): an OpenAI-compatible chat completions API
with a function-calling tool loop, Dify (chat-messages or workflows/run, blocking) and an n8n webhook.

The prompt, the tools and their execution come from the caller (`alertagent.analysis.context` /
`tools`): these functions only move JSON, bound it by a `Budget`, and read the answer. They never log,
and a `ProviderError` never holds the API key, a header, the URL or the request body.

OpenAI-compatible chat completions (OpenAI's API reference "Create chat completion"; the same shape is
served by Azure OpenAI deployments, DeepSeek, Qwen/DashScope compatible mode, Ollama, vLLM, LocalAI):

- `POST {base_url}/chat/completions`, `Authorization: Bearer <key>`, body `{"model", "messages",
  "tools": [{"type": "function", "function": {"name", "description", "parameters"}}], "tool_choice"?,
  "max_tokens", "temperature"}`.
- Answer `{"choices": [{"message": {"role": "assistant", "content": str | null, "tool_calls"?: [{"id",
  "type": "function", "function": {"name", "arguments": "<JSON text>"}}], "refusal"?}, "finish_reason":
  "stop" | "length" | "tool_calls" | "content_filter"}], "usage": {"prompt_tokens", "completion_tokens",
  "total_tokens"}}`.
- The assistant message with `tool_calls` goes back into `messages`, followed by one `{"role": "tool",
  "tool_call_id", "content"}` per call; otherwise the API answers 400 "messages with role 'tool' must
  be a response to a preceeding message with 'tool_calls'" or "An assistant message with 'tool_calls'
  must be followed by tool messages responding to each 'tool_call_id'". Only `content` and
  `tool_calls` are echoed: DeepSeek's reasoner refuses its own `reasoning_content` in the input.
- `tool_choice: "none"`: the model must answer with a message, not call tools ("none is the default
  when no tools are present").
- Errors: `{"error": {"message", "type", "param", "code"}}`; 401 `invalid_api_key` "Incorrect API key
  provided: sk-***…abcd" (a short key is echoed whole, so 401/403 messages are never repeated here),
  400 `invalid_request_error`, 404 `model_not_found`, 429 rate limit or quota, 5xx.

Dify service API (docs.dify.ai, API reference "Send Chat Message", "Execute Workflow", guides/errors):

- `POST {base}/chat-messages` `{"inputs": {...}, "query", "response_mode": "blocking", "user"}` →
  `{"event": "message", "message_id", "conversation_id", "mode", "answer": str, "metadata": {"usage":
  {"prompt_tokens", "completion_tokens", "total_tokens", ...}}}` (chat, advanced-chat apps; agent apps
  answer streaming only).
- `POST {base}/workflows/run` `{"inputs": {...}, "response_mode": "blocking", "user"}` →
  `{"workflow_run_id", "task_id", "data": {"id", "workflow_id", "status": "running" | "succeeded" |
  "failed" | "stopped" | "partial-succeeded", "outputs": {...}, "error", "elapsed_time",
  "total_tokens", "total_steps", "created_at", "finished_at"}}`. Workflows have no `query`.
- `Authorization: Bearer <app key>`. Errors `{"code", "message", "status"}`: 401 `unauthorized`
  ("Authorization header must be provided and start with 'Bearer'", "Access token is invalid"), 400
  `invalid_param` ("<var> is required in input form", "user is required"), `not_chat_app` /
  `not_workflow_app` (app mode and API route differ), `app_unavailable`, `provider_not_initialize`,
  `provider_quota_exceeded`, `model_currently_not_support`, `completion_request_error`; 429
  `too_many_requests`; 500 `internal_server_error`.

n8n webhook (docs.n8n.io "Webhook node", "Respond to Webhook"; n8n's webhook response extractors):

- `POST <production URL>/webhook/<path>` with the JSON payload; optional Header/Basic auth.
- The answer depends on the Webhook node's Respond setting: "Immediately" → `{"message": "Workflow was
  started"}` before the workflow ran (refused here: no result); "When Last Node Finishes" → the last
  node's first item's JSON (an object), or all items (a list); "Using 'Respond to Webhook' node" → "First
  Incoming Item" (object), "All Incoming Items" (list), "JSON" (the configured body), "Text" (text,
  `text/html` by default). An AI Agent node's item is `{"output": "<text>"}`.
- Errors: 404 `{"code": 404, "message": "The requested webhook \\"POST x\\" is not registered."}`; 401
  "Authorization is required!" / 403 "Authorization data is wrong!" (plain text); 500 `{"message":
  "Error in workflow"}` when the workflow fails in the waiting modes.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from ..discovery.addresses import scrub_credentials

DIFY_USER = "alertagent"
"""The `user` Dify attributes the conversations and runs to (it is required)."""

MAX_COMPLETION_TOKENS = 4096
"""Ceiling for one request's `max_tokens`: an answer is a small JSON object."""
FINAL_ANSWER_TOKENS = 512
"""Completion tokens kept for the final answer: a tool round starts only when the budget still holds
that much after it."""
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
"""A provider's answer larger than this is refused unread."""
ERROR_DETAIL_CHARS = 200
"""How much of a server's error message a ProviderError repeats."""
_LATER_FIELDS_BYTES = 48  # `"tool_choice":"none","max_tokens":NNNN`, added after the prompt is sized
_QUOTE_WINDOW = 32  # a server message sharing this many characters with the request body quotes it

T = TypeVar("T")
N8N_TEXT_KEYS = frozenset({"output", "text"})
"""An n8n item with only one of these fields is a text answer (AI Agent / LLM chain nodes' output)."""
RunTool = Callable[[str, str], Awaitable[str]]
"""(tool name, arguments JSON text) → the output text to send back to the model."""


@dataclass
class Budget:
    """Bounds of one analysis. max_steps: model requests that may call tools (one more, with
    `tool_choice: "none"`, asks for the answer); max_tokens: total tokens (usage.total_tokens summed
    over the requests; Dify and n8n report after the fact, so it only bounds the OpenAI loop);
    timeout: seconds for the whole analysis, tool runs included; max_tool_calls: tool calls run in
    total (a model may ask for many at once: the rest are answered "not run")."""

    max_steps: int = 6
    max_tokens: int = 20_000
    timeout: float = 60.0
    max_tool_calls: int = 16


@dataclass
class ProviderAnswer:
    """What a provider answered. text: the model's final message (or a workflow's single text output);
    data: a JSON object answer (workflow engines); tokens: total tokens reported (estimated as bytes/4
    when an OpenAI-compatible server reports no usage); tool_calls: (name, arguments JSON) of the calls
    run, in order (`tool:N` in evidence is the N-th, from 1); bytes_sent: request bodies' bytes;
    requests: HTTP requests made; limited: "steps" or "tokens" when that budget ended the tool loop."""

    text: str = ""
    data: dict[str, Any] | None = None
    tokens: int = 0
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    requests: int = 0
    limited: str = ""


class ProviderError(Exception):
    """A provider could not give an answer: the reason (HTTP status and the server's error code, a
    timeout, a budget, a malformed answer), never the key, headers, URL or request body. `answer`: what
    was spent before it failed (tokens, requests, tool calls), for the rate and cost cap."""

    def __init__(self, reason: str, status: int | None = None, answer: ProviderAnswer | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.answer = answer


# -- HTTP ------------------------------------------------------------------------------------------


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _estimate_tokens(size: int) -> int:
    """~4 bytes of JSON/English per token (OpenAI's rule of thumb); for budgets, not billing."""
    return math.ceil(size / 4)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return scrub_credentials(text)


def _quotes(message: str, body: bytes) -> bool:
    """Whether a server message repeats part of the request body (validators that echo their input)."""
    if len(message) < _QUOTE_WINDOW:
        return False
    text = body.decode(errors="replace")
    return any(message[i : i + _QUOTE_WINDOW] in text for i in range(len(message) - _QUOTE_WINDOW + 1))


def _error_detail(raw: bytes) -> tuple[str, str]:
    """(code, message) from the error shapes above: OpenAI `{"error": {...}}`, Dify `{"code",
    "message"}`, n8n `{"code", "message"}` or plain text."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return "", raw.decode(errors="replace").strip()
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        payload = payload["error"]
    if not isinstance(payload, dict):
        return "", ""
    code = payload.get("code") or payload.get("type") or ""
    message = payload.get("message") or ""
    return (code if isinstance(code, str) else str(code)), (message if isinstance(message, str) else "")


def _status_error(provider: str, status: int, raw: bytes, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
    if status in (401, 403):
        # OpenAI echoes (part of) a refused key; n8n and Dify say nothing the status does not.
        return ProviderError(f"{provider}: HTTP {status}: the credentials were refused", status)
    code, message = _error_detail(raw)
    message = " ".join(_scrub(message, secrets).split())[:ERROR_DETAIL_CHARS]
    if _quotes(message, body):
        message = ""
    detail = ": ".join(part for part in (_scrub(code, secrets)[:64], message) if part)
    return ProviderError(f"{provider}: HTTP {status}" + (f": {detail}" if detail else ""), status)


async def _post(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    body: Any,
    headers: Mapping[str, str],
    answer: ProviderAnswer,
    secrets: tuple[str, ...],
) -> tuple[bytes, str]:
    """POST `body` as JSON; (answer bytes, content type) of a 2xx. Counts the request and its bytes
    into `answer`. Raises ProviderError (HTTP status, transport error, an answer over
    MAX_RESPONSE_BYTES)."""
    data = _encode(body)
    answer.requests += 1
    answer.bytes_sent += len(data)
    request_headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    try:
        async with client.stream("POST", url, content=data, headers=request_headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ProviderError(f"{provider}: answer larger than {MAX_RESPONSE_BYTES} bytes", answer=answer)
                chunks.append(chunk)
            raw = b"".join(chunks)
            status = response.status_code
            content_type = response.headers.get("content-type", "")
    except httpx.TimeoutException:
        raise ProviderError(f"{provider}: no answer within the HTTP timeout", answer=answer) from None
    except httpx.HTTPError as error:
        # The exception's text may carry the URL (n8n webhook paths and some base URLs hold tokens).
        raise ProviderError(f"{provider}: {type(error).__name__}", answer=answer) from None
    if not 200 <= status < 300:
        refused = _status_error(provider, status, raw, data, secrets)
        refused.answer = answer
        raise refused
    return raw, content_type


def _json(provider: str, raw: bytes, answer: ProviderAnswer) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ProviderError(f"{provider}: the answer is not JSON", answer=answer) from None


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


async def _bounded(coroutine: Awaitable[T], provider: str, budget: Budget, answer: ProviderAnswer) -> T:
    try:
        async with asyncio.timeout(budget.timeout):
            return await coroutine
    except TimeoutError:
        raise ProviderError(f"{provider}: timed out after {budget.timeout:g} s", answer=answer) from None


# -- OpenAI-compatible chat completions ------------------------------------------------------------


async def openai_chat(
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str | None,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    run_tool: RunTool,
    budget: Budget,
    temperature: float = 0.2,
) -> ProviderAnswer:
    """Ask `model` at `{base_url}/chat/completions` (base_url like `https://api.openai.com/v1`), letting
    it call `tools` (OpenAI `tools` JSON; [] for none) through `run_tool` for at most `budget.max_steps`
    requests, then once more with `tool_choice: "none"` for the answer. Each request's `max_tokens` is
    what remains of `budget.max_tokens` after the prompt (estimated at 4 bytes a token), capped at
    MAX_COMPLETION_TOKENS; a tool round starts only when FINAL_ANSWER_TOKENS still remain after it.
    The whole exchange, tool runs included, is bounded by `budget.timeout` seconds. `messages` is not
    modified. api_key None or "" sends no Authorization (local servers such as Ollama). Returns the
    final message as `text`; raises ProviderError (HTTP error, timeout, budget spent before an answer,
    malformed or empty answer, a refusal)."""
    answer = ProviderAnswer()
    return await _bounded(
        _openai_loop(client, base_url, api_key, model, messages, tools, run_tool, budget, temperature, answer),
        "openai",
        budget,
        answer,
    )


async def _openai_loop(
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str | None,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    run_tool: RunTool,
    budget: Budget,
    temperature: float,
    answer: ProviderAnswer,
) -> ProviderAnswer:
    url = _join(base_url, "/chat/completions")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    conversation = [dict(message) for message in messages]
    steps = 0
    while True:
        final = not tools or steps >= budget.max_steps
        body: dict[str, Any] = {"model": model, "messages": conversation, "temperature": temperature}
        if tools:
            body["tools"] = tools
        prompt = _estimate_tokens(len(_encode(body)) + _LATER_FIELDS_BYTES)
        room = budget.max_tokens - answer.tokens - prompt
        if not final and room < 2 * FINAL_ANSWER_TOKENS:
            final, answer.limited = True, "tokens"
        if final and room < FINAL_ANSWER_TOKENS:
            raise ProviderError(
                f"openai: token budget spent ({answer.tokens} used, ~{prompt} needed for the prompt, "
                f"{budget.max_tokens} allowed)",
                answer=answer,
            )
        if final and tools:
            body["tool_choice"] = "none"
        reserve = 0 if final else FINAL_ANSWER_TOKENS
        body["max_tokens"] = min(room - reserve, MAX_COMPLETION_TOKENS)
        raw, _ = await _post(client, "openai", url, body, headers, answer, (api_key or "",))
        message, finish, used = _openai_message(raw, answer)
        calls = message.get("tool_calls") or []
        text = _content_text(message.get("content"))
        answer.tokens += used if used is not None else prompt + _estimate_tokens(len(text) + len(_encode(calls)))
        if calls and not final:
            steps += 1
            await _run_calls(conversation, message, calls, run_tool, budget, answer)
            if steps >= budget.max_steps:
                answer.limited = answer.limited or "steps"
            continue
        if isinstance(message.get("refusal"), str) and message["refusal"] and not text:
            raise ProviderError("openai: the model refused to answer", answer=answer)
        if not text.strip():
            reason = "asked for tools after tool_choice none" if calls else f"no content (finish_reason {finish})"
            raise ProviderError(f"openai: the model gave no answer: {reason}", answer=answer)
        answer.text = text
        return answer


def _openai_message(raw: bytes, answer: ProviderAnswer) -> tuple[dict[str, Any], str, int | None]:
    """(choices[0].message, finish_reason, usage.total_tokens or None) of a chat completion."""
    payload = _json("openai", raw, answer)
    try:
        choice = payload["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        raise ProviderError("openai: the answer has no choices[0].message", answer=answer) from None
    usage = payload.get("usage")
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return message, str(choice.get("finish_reason") or ""), total if isinstance(total, int) else None


def _content_text(content: Any) -> str:
    """A message's content: a string, or (some compatible servers) a list of `{"type": "text", "text"}`
    parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


async def _run_calls(
    conversation: list[dict[str, Any]],
    message: dict[str, Any],
    calls: list[Any],
    run_tool: RunTool,
    budget: Budget,
    answer: ProviderAnswer,
) -> None:
    """Append the assistant's tool calls and one tool message answering each (ids made up where a
    server sent none, so every call has its answer)."""
    echoed: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for index, raw_call in enumerate(calls):
        call: dict[str, Any] = raw_call if isinstance(raw_call, dict) else {}
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{len(answer.tool_calls)}_{index}"
        name = function.get("name") if isinstance(function.get("name"), str) else ""
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        echoed.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        if call.get("type", "function") != "function" or not name:
            output = "error: only function tools are available"
        elif len(answer.tool_calls) >= budget.max_tool_calls:
            output = f"not run: the limit of {budget.max_tool_calls} tool calls is reached; answer now"
        else:
            answer.tool_calls.append((name, arguments))
            output = await run_tool(name, arguments)
        outputs.append({"role": "tool", "tool_call_id": call_id, "content": output})
    content = _content_text(message.get("content")) or None
    conversation.append({"role": "assistant", "content": content, "tool_calls": echoed})
    conversation.extend(outputs)


# -- Dify ------------------------------------------------------------------------------------------


async def dify(
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str,
    mode: Literal["chat", "workflow"] | str,
    inputs: dict[str, str],
    query: str,
    budget: Budget,
) -> ProviderAnswer:
    """Run a Dify app in blocking mode (base_url like `https://api.dify.ai/v1`). chat: `POST
    /chat-messages` with `inputs` and `query` → `text` = `answer`, tokens = metadata.usage.total_tokens.
    workflow: `POST /workflows/run` with `inputs` (`query` unused) → `data.status` must be "succeeded";
    `data.outputs` with one text output → `text`, with one object output → `data` = that object,
    otherwise `data` = outputs; tokens = data.total_tokens. Bounded by `budget.timeout`. Raises
    ProviderError."""
    answer = ProviderAnswer()
    if mode not in ("chat", "workflow"):
        raise ProviderError(f"dify: mode {mode!r} is neither 'chat' nor 'workflow'", answer=answer)
    return await _bounded(_dify(client, base_url, api_key, mode, inputs, query, answer), "dify", budget, answer)


async def _dify(
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str,
    mode: str,
    inputs: dict[str, str],
    query: str,
    answer: ProviderAnswer,
) -> ProviderAnswer:
    headers = {"Authorization": f"Bearer {api_key}"}
    body: dict[str, Any] = {"inputs": inputs, "response_mode": "blocking", "user": DIFY_USER}
    if mode == "chat":
        body["query"] = query
    path = "/chat-messages" if mode == "chat" else "/workflows/run"
    raw, _ = await _post(client, "dify", _join(base_url, path), body, headers, answer, (api_key,))
    payload = _json("dify", raw, answer)
    if not isinstance(payload, dict):
        raise ProviderError("dify: the answer is not a JSON object", answer=answer)
    if mode == "chat":
        usage = (payload.get("metadata") or {}).get("usage") if isinstance(payload.get("metadata"), dict) else None
        answer.tokens = _int(usage.get("total_tokens")) if isinstance(usage, dict) else 0
        text = payload.get("answer")
        if not isinstance(text, str) or not text.strip():
            raise ProviderError("dify: the chat answer is empty", answer=answer)
        answer.text = text
        return answer
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ProviderError("dify: the workflow answer has no data", answer=answer)
    answer.tokens = _int(data.get("total_tokens"))
    status = data.get("status")
    if status != "succeeded":
        error = data["error"] if isinstance(data.get("error"), str) else ""
        error = " ".join(_scrub(error, (api_key,)).split())[:ERROR_DETAIL_CHARS]
        raise ProviderError(f"dify: workflow {status}" + (f": {error}" if error else ""), answer=answer)
    outputs = data.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise ProviderError("dify: the workflow has no outputs", answer=answer)
    _take(outputs, answer, "dify", None)
    return answer


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _take(value: dict[str, Any], answer: ProviderAnswer, provider: str, text_keys: frozenset[str] | None) -> None:
    """A JSON object answer: a single field named in text_keys (None: any name) holding text → text; a
    single field holding an object → that object; otherwise the object itself."""
    if len(value) == 1:
        ((key, only),) = value.items()
        if isinstance(only, str) and (text_keys is None or key in text_keys):
            if not only.strip():
                raise ProviderError(f"{provider}: the answer is empty", answer=answer)
            answer.text = only
            return
        if isinstance(only, dict):
            answer.data = only
            return
    answer.data = value


# -- n8n -------------------------------------------------------------------------------------------


async def n8n(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    payload: dict[str, Any],
    budget: Budget,
) -> ProviderAnswer:
    """POST `payload` to an n8n webhook (`headers`: its Header/Basic auth, if any) and read the answer:
    a JSON object → `data`, or `text` when it is `{"output": "..."}` / `{"text": "..."}`; a list of one
    item → that item (all-items modes); a JSON string or a non-JSON body (Respond with Text) → `text`.
    Refuses n8n's "Workflow was started" (the webhook answers immediately, without the result), an
    empty answer and a list of several items. Bounded by `budget.timeout`. Raises ProviderError."""
    answer = ProviderAnswer()
    return await _bounded(_n8n(client, url, headers, payload, answer), "n8n", budget, answer)


async def _n8n(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], payload: dict[str, Any], answer: ProviderAnswer
) -> ProviderAnswer:
    secrets = tuple(headers.values())
    raw, _ = await _post(client, "n8n", url, payload, headers, answer, secrets)
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw.decode(errors="replace")
    if isinstance(value, list):
        if len(value) != 1:
            raise ProviderError(
                f"n8n: the webhook answered {len(value)} items; respond with the first item or one JSON object",
                answer=answer,
            )
        value = value[0]
    if isinstance(value, dict):
        if value == {"message": "Workflow was started"}:
            raise ProviderError(
                "n8n: the webhook answered before the workflow ran; set its Respond option to "
                "'When Last Node Finishes' or 'Using Respond to Webhook Node'",
                answer=answer,
            )
        if not value:
            raise ProviderError("n8n: the answer is empty", answer=answer)
        _take(value, answer, "n8n", N8N_TEXT_KEYS)
        return answer
    if isinstance(value, str) and value.strip():
        answer.text = value
        return answer
    raise ProviderError("n8n: the answer is empty or not an object", answer=answer)
