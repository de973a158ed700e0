"""The LLM providers (`clients.llm`) against the local stand-ins (`devstack.llm`) over real local HTTP:
the tool loop and its step, token and time budgets, the errors (never holding the key), Dify's chat
and workflow runs, n8n's answer shapes, and the stand-ins' own request checks."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import httpx
import pytest

from alertagent.clients.llm import (
    FINAL_ANSWER_TOKENS,
    Budget,
    ProviderAnswer,
    ProviderError,
    dify,
    n8n,
    openai_chat,
)
from alertagent.devstack.llm import Answer, DifyStandIn, N8nStandIn, OpenAIStandIn, Recorded
from alertagent.devstack.robots import running

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} (test tool)",
            "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}},
        },
    }
    for name in ("get_pods", "get_events", "query_prometheus")
]
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You analyse incidents. Answer with JSON."},
    {"role": "user", "content": '{"incident": "shop-database", "root": "shop/database"}'},
]
FINAL = '{"root_cause": "shop/database crash-loops", "confidence": 0.8}'
CANARY = "canary-s3cr3t-value-7f3a"


class Tools:
    """A run_tool recording its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, name: str, arguments: str) -> str:
        self.calls.append((name, arguments))
        return json.dumps({"tool": name, "pods": ["database-1"]})


def chat(stand_in: OpenAIStandIn, budget: Budget, tools: Tools, api_key: str | None = None) -> ProviderAnswer:
    async def main() -> ProviderAnswer:
        async with httpx.AsyncClient(timeout=10) as client:
            return await openai_chat(
                client,
                stand_in.base_url,
                stand_in.api_key if api_key is None else api_key,
                stand_in.model,
                MESSAGES,
                TOOLS,
                tools,
                budget,
            )

    return asyncio.run(main())


def test_scripted_tool_calls_then_an_answer() -> None:
    script: list[Any] = [
        [("get_pods", {"namespace": "shop"})],
        [("get_events", {"namespace": "shop"}), ("query_prometheus", '{"query": "up"}')],
        FINAL,
    ]
    tools = Tools()
    with running(OpenAIStandIn(script=script)) as (model,):
        answer = chat(model, Budget(), tools)
    assert answer.text == FINAL
    expected = [
        ("get_pods", '{"namespace": "shop"}'),
        ("get_events", '{"namespace": "shop"}'),
        ("query_prometheus", '{"query": "up"}'),
    ]
    assert tools.calls == expected and answer.tool_calls == expected
    assert answer.requests == 3 and answer.limited == ""
    assert [r.status for r in model.requests] == [200, 200, 200]  # the stand-in accepted every request
    last = model.requests[-1].body
    assert [m["role"] for m in last["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in last["messages"] if m["role"] == "tool"] == ["call_0_0", "call_1_0", "call_1_1"]
    assert "tool_choice" not in last and last["tools"] == TOOLS
    assert answer.tokens == sum(r["usage"]["total_tokens"] for r in [_usage(model, i) for i in range(3)])
    assert answer.bytes_sent == sum(len(r.raw) for r in model.requests)
    assert MESSAGES[-1]["role"] == "user" and len(MESSAGES) == 2  # the caller's list is not modified


def _usage(model: OpenAIStandIn, index: int) -> dict[str, Any]:
    """The usage the stand-in reported for its index-th request (recomputed from the same rule)."""
    raw = model.requests[index].raw
    body = model.requests[index].body
    replay = OpenAIStandIn(script=model.script, model=model.model)
    return replay._complete(body, len(raw))


def test_step_budget_spent_asks_for_the_answer_with_tool_choice_none() -> None:
    script: list[Any] = [[("get_pods", {"namespace": "shop"})]] * 5 + [FINAL]
    tools = Tools()
    with running(OpenAIStandIn(script=script)) as (model,):
        answer = chat(model, Budget(max_steps=2), tools)
    assert answer.text == FINAL and answer.limited == "steps"
    assert answer.requests == 3 and len(tools.calls) == 2
    assert [r.body.get("tool_choice") for r in model.requests] == [None, None, "none"]
    assert all(r.status == 200 for r in model.requests)


def test_token_budget_bounds_every_request_and_ends_the_tool_loop() -> None:
    script: list[Any] = [[("get_pods", {"namespace": "shop"})]] * 5 + [FINAL]
    with running(OpenAIStandIn(script=script)) as (probe,):
        chat(probe, Budget(max_steps=1), Tools())  # measures the first round and the second prompt
    first = _usage(probe, 0)["usage"]["total_tokens"]
    second_prompt = len(probe.requests[1].raw) // 4
    # After the first round, room for the final answer but not for another round and then the answer.
    budget = Budget(max_tokens=first + second_prompt + FINAL_ANSWER_TOKENS + FINAL_ANSWER_TOKENS // 2)
    with running(OpenAIStandIn(script=script)) as (model,):
        answer = chat(model, budget, Tools())
    assert answer.text == FINAL and answer.limited == "tokens"
    assert [r.body.get("tool_choice") for r in model.requests] == [None, "none"]
    assert answer.tokens <= budget.max_tokens
    spent = 0
    for index, request in enumerate(model.requests):
        # what the stand-in counts as the prompt (bytes / 4) plus max_tokens stays within the budget
        assert request.body["max_tokens"] <= budget.max_tokens - spent - math.ceil(len(request.raw) / 4)
        spent += _usage(model, index)["usage"]["total_tokens"]


def test_token_budget_too_small_for_any_answer_is_an_error_before_sending() -> None:
    with (
        running(OpenAIStandIn(script=[FINAL])) as (model,),
        pytest.raises(ProviderError, match="budget spent") as error,
    ):
        chat(model, Budget(max_tokens=300), Tools())
    assert model.requests == [] and error.value.answer is not None and error.value.answer.requests == 0


def test_token_budget_counts_an_estimate_when_the_server_reports_no_usage() -> None:
    with running(OpenAIStandIn(script=[[("get_pods", {})], FINAL], report_usage=False)) as (model,):
        answer = chat(model, Budget(), Tools())
    assert answer.text == FINAL
    assert answer.tokens >= sum(len(r.raw) for r in model.requests) // 4


def test_timeout_budget_bounds_the_whole_exchange() -> None:
    with running(OpenAIStandIn(script=[FINAL], latency=3.0)) as (model,):
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"timed out after 0.3 s") as error:
            chat(model, Budget(timeout=0.3), Tools())
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert error.value.answer is not None and error.value.answer.requests == 1


def test_timeout_budget_includes_tool_runs() -> None:
    async def slow_tool(name: str, arguments: str) -> str:
        await asyncio.sleep(5)
        return ""

    async def main(model: OpenAIStandIn) -> ProviderAnswer:
        async with httpx.AsyncClient(timeout=10) as client:
            return await openai_chat(
                client, model.base_url, model.api_key, model.model, MESSAGES, TOOLS, slow_tool, Budget(timeout=0.5)
            )

    with running(OpenAIStandIn(script=[[("get_pods", {})], FINAL])) as (model,):
        started = time.monotonic()
        with pytest.raises(ProviderError, match="timed out"):
            asyncio.run(main(model))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("wrong_key", ["sk-wrong-" + CANARY, "short!"])
def test_a_refused_key_is_an_error_that_never_holds_the_key(wrong_key: str) -> None:
    with running(OpenAIStandIn(script=[FINAL])) as (model,), pytest.raises(ProviderError) as error:
        chat(model, Budget(), Tools(), api_key=wrong_key)
    assert model.requests[0].status == 401
    answered = model.requests[0]
    # The stand-in, as OpenAI does, echoes a short key whole: the error must not repeat it.
    assert error.value.status == 401
    for text in (str(error.value), repr(error.value), repr(error.value.args), error.value.reason):
        assert wrong_key not in text and wrong_key[-4:] + "." not in text
        assert CANARY not in text and "Incorrect API key" not in text
    assert answered.headers["authorization"] == f"Bearer {wrong_key}"


def test_an_error_never_repeats_the_request_body() -> None:
    class Echoing(OpenAIStandIn):
        """A server whose validation error quotes the request (as pydantic-based servers do)."""

        def handle(self, record: Recorded) -> Answer:
            content = record.body["messages"][-1]["content"]
            return 400, {"error": {"message": f"Invalid content: {content!r}", "type": "BadRequestError"}}, "x/json"

    messages = [*MESSAGES, {"role": "user", "content": "context " + CANARY * 3}]

    async def main(model: OpenAIStandIn, name: str) -> ProviderAnswer:
        async with httpx.AsyncClient(timeout=10) as client:
            return await openai_chat(client, model.base_url, model.api_key, name, messages, TOOLS, Tools(), Budget())

    with running(Echoing(), OpenAIStandIn(model="other-model")) as (echoing, other):
        with pytest.raises(ProviderError) as echoed:
            asyncio.run(main(echoing, echoing.model))
        with pytest.raises(ProviderError) as missing:
            asyncio.run(main(other, "gpt-missing"))
    assert CANARY in echoing.requests[0].body["messages"][-1]["content"]  # the server did quote it
    assert str(echoed.value) == "openai: HTTP 400: BadRequestError"
    # A message that does not quote the request is kept: it says what is wrong.
    assert str(missing.value).startswith("openai: HTTP 404: model_not_found: The model `gpt-missing` does not exist")
    assert CANARY not in str(missing.value)


def test_a_model_that_keeps_calling_tools_after_tool_choice_none_is_an_error() -> None:
    class Stubborn(OpenAIStandIn):
        def _complete(self, body: dict[str, Any], size: int) -> dict[str, Any]:
            body = {**body, "tool_choice": None}
            self.script = [[("get_pods", {})]]
            return super()._complete(body, size)

    with running(Stubborn()) as (model,), pytest.raises(ProviderError, match="asked for tools after tool_choice none"):
        chat(model, Budget(max_steps=1), Tools())


def test_tool_calls_over_the_cap_are_answered_not_run() -> None:
    script: list[Any] = [[("get_pods", {"i": i}) for i in range(5)], FINAL]
    tools = Tools()
    with running(OpenAIStandIn(script=script)) as (model,):
        answer = chat(model, Budget(max_tool_calls=2), tools)
    assert answer.text == FINAL and len(tools.calls) == 2
    tool_messages = [m for m in model.requests[-1].body["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 5 and all(m["content"].startswith("not run") for m in tool_messages[2:])


# -- Dify ------------------------------------------------------------------------------------------

INPUTS = {"incident": '{"name": "shop-database"}', "report": "{}", "question": "Why?"}


def run_dify(stand_in: DifyStandIn, mode: Any, api_key: str | None = None) -> ProviderAnswer:
    async def main() -> ProviderAnswer:
        async with httpx.AsyncClient(timeout=10) as client:
            key = stand_in.api_key if api_key is None else api_key
            return await dify(client, stand_in.base_url, key, mode, INPUTS, "Why?", Budget())

    return asyncio.run(main())


def test_dify_chat_blocking() -> None:
    with running(DifyStandIn(app="chat", answer=FINAL, tokens=777, required_inputs=("incident",))) as (app,):
        answer = run_dify(app, "chat")
    assert answer.text == FINAL and answer.tokens == 777 and answer.data is None and answer.requests == 1
    (request,) = app.requests
    assert request.path == "/v1/chat-messages" and request.status == 200
    assert request.body == {"inputs": INPUTS, "query": "Why?", "response_mode": "blocking", "user": "alertagent"}


def test_dify_workflow_outputs() -> None:
    result = {"root_cause": "db", "confidence": 0.9}
    with running(
        DifyStandIn(app="workflow", outputs={"result": result}, tokens=55),
        DifyStandIn(app="workflow", outputs={"text": FINAL}),
        DifyStandIn(app="workflow", outputs={"root_cause": "db", "impact": "api"}),
    ) as (one_object, one_text, several):
        assert run_dify(one_object, "workflow") == ProviderAnswer(
            data=result, tokens=55, bytes_sent=_sent(one_object), requests=1
        )
        assert run_dify(one_text, "workflow").text == FINAL
        assert run_dify(several, "workflow").data == {"root_cause": "db", "impact": "api"}
    (request,) = one_object.requests
    assert request.path == "/v1/workflows/run"
    assert request.body == {"inputs": INPUTS, "response_mode": "blocking", "user": "alertagent"}


def _sent(stand_in: DifyStandIn) -> int:
    return sum(len(r.raw) for r in stand_in.requests)


def test_dify_workflow_failed_is_an_error() -> None:
    failing = DifyStandIn(app="workflow", status="failed", error="LLM node: quota exceeded", tokens=12)
    with running(failing) as (app,), pytest.raises(ProviderError, match="workflow failed: LLM node: quota") as error:
        run_dify(app, "workflow")
    assert error.value.answer is not None and error.value.answer.tokens == 12


def test_dify_errors() -> None:
    with running(DifyStandIn(app="workflow", required_inputs=("alert",))) as (app,):
        with pytest.raises(ProviderError, match="HTTP 400: not_chat_app"):
            run_dify(app, "chat")
        with pytest.raises(ProviderError, match="HTTP 400: invalid_param: alert is required in input form"):
            run_dify(app, "workflow")
        with pytest.raises(ProviderError) as refused:
            run_dify(app, "workflow", api_key="app-" + CANARY)
    assert refused.value.status == 401 and CANARY not in str(refused.value)


# -- n8n -------------------------------------------------------------------------------------------

PAYLOAD = {"incident": {"name": "shop-database"}, "report": {"root": "shop/database"}}


def run_n8n(stand_in: N8nStandIn, headers: dict[str, str] | None = None, url: str | None = None) -> ProviderAnswer:
    async def main() -> ProviderAnswer:
        async with httpx.AsyncClient(timeout=10) as client:
            return await n8n(client, url or stand_in.url, headers or {}, PAYLOAD, Budget())

    return asyncio.run(main())


def test_n8n_answer_shapes() -> None:
    result = {"root_cause": "db", "actions": []}
    with running(
        N8nStandIn(answer=result),
        N8nStandIn(answer=[result]),
        N8nStandIn(answer=[{"output": FINAL}]),
        N8nStandIn(answer={"text": FINAL}),
        N8nStandIn(text="The database crash-loops."),
        N8nStandIn(answer={"output": result}),
    ) as (obj, items, agent, text_field, text, wrapped):
        assert run_n8n(obj).data == result
        assert run_n8n(items).data == result
        assert run_n8n(agent).text == FINAL
        assert run_n8n(text_field).text == FINAL
        assert run_n8n(text) == ProviderAnswer(text="The database crash-loops.", bytes_sent=_sent_n8n(text), requests=1)
        assert run_n8n(wrapped).data == result
    assert obj.payloads() == [PAYLOAD]


def _sent_n8n(stand_in: N8nStandIn) -> int:
    return sum(len(r.raw) for r in stand_in.requests)


def test_n8n_refusals() -> None:
    with running(
        N8nStandIn(respond="immediately"),
        N8nStandIn(respond="error"),
        N8nStandIn(answer=[{"a": 1}, {"b": 2}]),
        N8nStandIn(header=("X-N8N-Key", CANARY)),
    ) as (immediately, failing, several, guarded):
        with pytest.raises(ProviderError, match="answered before the workflow ran"):
            run_n8n(immediately)
        with pytest.raises(ProviderError, match="HTTP 500: Error in workflow"):
            run_n8n(failing)
        with pytest.raises(ProviderError, match="answered 2 items"):
            run_n8n(several)
        with pytest.raises(ProviderError) as refused:
            run_n8n(guarded, headers={"X-N8N-Key": "wrong-" + CANARY})
        assert run_n8n(guarded, headers={"X-N8N-Key": CANARY}).data == {"root_cause": "unknown"}
        with pytest.raises(ProviderError, match='HTTP 404: 404: The requested webhook "POST other" is not registered'):
            run_n8n(guarded, url=guarded.url.replace("alertagent-rca", "other"))
    assert refused.value.status == 403 and CANARY not in str(refused.value)
    assert guarded.url not in str(refused.value)


# -- the stand-ins' own checks ---------------------------------------------------------------------


def post(stand_in: OpenAIStandIn, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        stand_in.base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {stand_in.api_key}"}
    )


CALL = {"id": "call_1", "type": "function", "function": {"name": "get_pods", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("messages", "tools", "extra", "message", "param"),
    [
        (
            [*MESSAGES, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
            TOOLS,
            {},
            "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
            "messages.[2].role",
        ),
        (
            [*MESSAGES, {"role": "assistant", "content": None, "tool_calls": [CALL]}, MESSAGES[1]],
            TOOLS,
            {},
            "The following tool_call_ids did not have response messages: call_1",
            "messages.[3].role",
        ),
        (
            [*MESSAGES, {"role": "assistant", "content": None, "tool_calls": [CALL]}],
            TOOLS,
            {},
            "must be followed by tool messages responding to each 'tool_call_id'",
            "messages.[2].role",
        ),
        (MESSAGES, [{"type": "function", "function": {"name": "get pods"}}], {}, "does not match pattern", None),
        (MESSAGES, [{"type": "function"}], {}, "Missing required parameter: 'tools[0].function'", None),
        (MESSAGES, None, {"tool_choice": "none"}, "'tool_choice' is only allowed when 'tools' are specified", None),
        (MESSAGES, TOOLS, {"max_tokens": 0}, "Expected a value >= 1, but got 0", None),
        ([{"role": "robot", "content": "x"}], TOOLS, {}, "Invalid value: 'robot'", None),
        ([], TOOLS, {}, "Invalid 'messages': empty array", None),
    ],
)
def test_openai_stand_in_rejects_malformed_requests(
    messages: list[Any], tools: Any, extra: dict[str, Any], message: str, param: str | None
) -> None:
    body: dict[str, Any] = {"model": "gpt-test", "messages": messages, **extra}
    if tools is not None:
        body["tools"] = tools
    with running(OpenAIStandIn()) as (model,):
        response = post(model, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert message in error["message"]
    if param:
        assert error["param"] == param


def test_openai_stand_in_checks_the_key_and_the_model() -> None:
    with running(OpenAIStandIn()) as (model,):
        body = {"model": "gpt-test", "messages": MESSAGES}
        missing = httpx.post(model.base_url + "/chat/completions", json=body)
        wrong = httpx.post(
            model.base_url + "/chat/completions", json=body, headers={"Authorization": "Bearer sk-abcdefghijkl"}
        )
        unknown = post(model, {**body, "model": "gpt-x"})
        valid = post(model, body)
    assert missing.status_code == 401 and "You didn't provide an API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-********ijkl" in wrong.json()["error"]["message"]
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert valid.status_code == 200 and valid.json()["choices"][0]["message"]["content"]


def test_dify_stand_in_checks_auth_and_fields() -> None:
    with running(DifyStandIn(app="chat")) as (app,):
        url = app.base_url + "/chat-messages"
        auth = {"Authorization": f"Bearer {app.api_key}"}
        good = {"inputs": {}, "query": "q", "response_mode": "blocking", "user": "u"}
        cases = {
            "no auth": httpx.post(url, json=good),
            "wrong key": httpx.post(url, json=good, headers={"Authorization": "Bearer app-x"}),
            "no user": httpx.post(url, json={**good, "user": ""}, headers=auth),
            "no query": httpx.post(url, json={**good, "query": ""}, headers=auth),
            "bad mode": httpx.post(url, json={**good, "response_mode": "fast"}, headers=auth),
            "ok": httpx.post(url, json=good, headers=auth),
        }
    statuses = {name: (r.status_code, r.json().get("code")) for name, r in cases.items()}
    assert statuses == {
        "no auth": (401, "unauthorized"),
        "wrong key": (401, "unauthorized"),
        "no user": (400, "invalid_param"),
        "no query": (400, "invalid_param"),
        "bad mode": (400, "invalid_param"),
        "ok": (200, None),
    }
    assert cases["no auth"].json()["message"] == "Authorization header must be provided and start with 'Bearer'"
    assert cases["wrong key"].json() == {"code": "unauthorized", "message": "Access token is invalid", "status": 401}


def test_stand_ins_record_what_was_sent() -> None:
    with running(OpenAIStandIn(script=[FINAL])) as (model,), running(N8nStandIn()) as (hook,):
        chat(model, Budget(), Tools())
        run_n8n(hook)
    assert b"shop-database" in model.sent_bytes() and b"shop-database" in hook.sent_bytes()
    assert CANARY.encode() not in model.sent_bytes() + hook.sent_bytes()
