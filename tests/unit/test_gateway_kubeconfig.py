"""The gateway's Kubernetes client (`clients.gatewaykube.connect`) from a kubeconfig it cannot use:
one `GatewayKubeError` line naming the cause (the incident engines log it and retry), never a raw
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertagent.clients.gatewaykube import GatewayKubeError, connect


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("garbage: [\n", "line 2, column 1"),  # malformed YAML: where the parser gave up
        ("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n", "current-context"),
    ],
    ids=["malformed-yaml", "no-context"],
)
def test_an_unusable_kubeconfig_is_one_line_naming_why(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(GatewayKubeError) as caught:
        connect(str(path))
    message = str(caught.value)
    assert message.startswith("no Kubernetes configuration: ") and reason in message
    assert "\n" not in message


def test_a_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GatewayKubeError, match=r"no Kubernetes configuration: .*missing"):
        connect(str(tmp_path / "missing"))
