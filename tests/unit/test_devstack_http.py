"""The local stand-ins' HTTP server (`devstack.processes.serve_http`) stays quiet when a client goes away
mid-answer (Prometheus stopping during a scrape at the demo's end printed a BrokenPipeError traceback)
and still prints any other error of a handler."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from alertagent.devstack.processes import serve_http, stop_http


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        raise {"/gone": BrokenPipeError(32, "Broken pipe"), "/reset": ConnectionResetError(104, "reset")}.get(
            self.path, ValueError("a bug in the stand-in")
        )

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _errors_after_get(path: str, capsys: pytest.CaptureFixture[str]) -> str:
    server = serve_http(_Failing)
    try:
        with pytest.raises(httpx.TransportError):  # the handler answered nothing
            httpx.get(f"http://127.0.0.1:{server.server_address[1]}{path}", timeout=5)
        time.sleep(0.2)  # handle_error runs in the request's thread after the connection closed
    finally:
        stop_http(server)
    return capsys.readouterr().err


@pytest.mark.parametrize("path", ["/gone", "/reset"])
def test_a_client_gone_mid_answer_prints_nothing(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _errors_after_get(path, capsys) == ""


def test_any_other_error_of_a_handler_is_printed_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    err = _errors_after_get("/bug", capsys)
    assert "ValueError: a bug in the stand-in" in err and "Traceback" in err
