"""The operator renders the selected NotificationChannels and SuppressionPolicies into the cluster's
Secret (real API server), validated, written only on change; the real Alertmanager loads it."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client

from alertagent.clients.alertmanager import config_hash_metric, loaded_config_hash
from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane, table
from alertagent.devstack.monitoring import AlertmanagerTarget

GROUP = "alertagent.io/v1alpha1"


def _config(core: client.CoreV1Api, namespace: str) -> dict[str, Any] | None:
    try:
        secret = core.read_namespaced_secret("main-alertmanager-config", namespace)
    except client.exceptions.ApiException:
        return None
    return yaml.safe_load(base64.b64decode(secret.data["alertmanager.yaml"]))  # type: ignore[no-any-return]


def test_channels_and_policies_become_a_validated_config_secret(  # noqa: PLR0915 - one end-to-end story
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    plane, core = installed_crds, client.CoreV1Api(api_client)
    objects = [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url, "version": "0.25.0"}, "namespaceIsolation": "None"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "slack"},
            "stringData": {"url": "https://hooks.slack.example/one"},
        },
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "team-slack"},
            "spec": {
                "type": "slack",
                "slack": {"apiUrl": {"name": "slack", "key": "url"}, "channel": "#team"},
                "route": {"matchers": [{"name": "severity", "value": "critical"}]},
            },
        },
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "hook"},
            "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/one"}, "route": {}},
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "db"},
            "spec": {
                "maintenanceWindows": [
                    {"name": "always", "recurring": {}},
                    {"name": "past", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
                ],
                "inhibitRules": [
                    {
                        "sourceMatchers": [{"name": "alertname", "value": "DatabaseDown"}],
                        "targetMatchers": [{"name": "severity", "value": "warning"}],
                    }
                ],
            },
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace)
    sidecar, sidecar_port = start_alertmanager_sidecar(
        plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
    )
    try:
        config = eventually(lambda: _config(core, namespace), 30, what="config Secret")
        receivers = {r["name"]: r for r in config["receivers"]}
        assert set(receivers) == {f"{namespace}/team-slack", f"{namespace}/hook", "alertagent/null"}
        assert receivers[f"{namespace}/team-slack"]["slack_configs"][0]["api_url"] == "https://hooks.slack.example/one"
        assert config["inhibit_rules"] == [
            {"source_matchers": ['alertname="DatabaseDown"'], "target_matchers": ['severity="warning"']}
        ]
        secret = core.read_namespaced_secret("main-alertmanager-config", namespace)
        [owner] = secret.metadata.owner_references
        assert owner.kind == "AlertmanagerCluster" and secret.metadata.annotations["alertagent.io/content-hash"]

        def columns() -> dict[str, str] | None:
            [row] = table(plane.kubectl("-n", namespace, "get", "amc", "main").stdout)
            return row if row["RECEIVERS"] == "3" and row["CONFIG HASH"] else None

        eventually(columns, 30, what="receivers and hash in the columns")

        # Channels and policies report where they went.
        def rows(kind: str) -> dict[str, dict[str, str]]:
            return {r["NAME"]: r for r in table(plane.kubectl("-n", namespace, "get", kind).stdout)}

        eventually(lambda: rows("nc")["team-slack"]["READY"] == "True", 30, what="channel status")
        slack = rows("nc")["team-slack"]
        assert (slack["TYPE"], slack["DELIVERY"]) == ("slack", "Native") and namespace in slack["CLUSTERS"]
        eventually(lambda: rows("sp")["db"]["READY"] == "True", 30, what="policy status")
        db = rows("sp")["db"]
        assert (db["WINDOWS"], db["ACTIVE"], db["INHIBIT RULES"]) == ("2", "1", "1")

        # The sidecar puts it into the real Alertmanager, which reports exactly that file loaded.
        def loaded_hash() -> float | None:
            with httpx.Client() as http:
                return loaded_config_hash(http, alertmanager.url)

        def secret_text() -> str:
            data = core.read_namespaced_secret("main-alertmanager-config", namespace).data["alertmanager.yaml"]
            return base64.b64decode(data).decode()

        eventually(lambda: loaded_hash() == config_hash_metric(secret_text()), 30, what="loaded by Alertmanager")
        assert f"{namespace}/team-slack" in alertmanager.status()["config"]["original"]
        assert httpx.get(f"http://127.0.0.1:{sidecar_port}/readyz").status_code == 200

        def reload_reported() -> dict[str, Any] | None:
            status = json.loads(plane.kubectl("-n", namespace, "get", "amc", "main", "-o", "json").stdout)["status"]
            am = next(t for t in status["targets"] if t["name"] == "alertmanager")
            return status if status.get("lastReloadTime") and am.get("configHash") == status["configHash"] else None

        eventually(reload_reported, 30, what="reload reported in the cluster status")

        # A channel the target version cannot take is left out alone; valid changes still land.
        teams_spec = {"type": "msteams", "msteams": {"webhookUrl": {"name": "slack", "key": "url"}}, "route": {}}
        teams = {"apiVersion": GROUP, "kind": "NotificationChannel", "metadata": {"name": "teams"}, "spec": teams_spec}
        hook = {**objects[3], "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/two"}, "route": {}}}
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([teams, hook]))

        def hook_url() -> str:
            receivers = {r["name"]: r for r in (_config(core, namespace) or {}).get("receivers", [])}
            return str(receivers.get(f"{namespace}/hook", {}).get("webhook_configs", [{}])[0].get("url"))

        eventually(lambda: hook_url() == "http://127.0.0.1:9/two", 30, what="valid change landed")
        eventually(lambda: "http://127.0.0.1:9/two" in alertmanager.status()["config"]["original"], 30)
        assert f"{namespace}/teams" not in {r["name"] for r in _config(core, namespace)["receivers"]}  # type: ignore[index]
        eventually(lambda: rows("nc")["teams"]["READY"] == "False", 30, what="invalid channel status")
        teams_status = json.loads(plane.kubectl("-n", namespace, "get", "nc", "teams", "-o", "json").stdout)["status"]
        assert "Alertmanager 0.25 has no msteams receiver" in teams_status["conditions"][0]["message"]
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=teams").items
        assert any(e.type == "Warning" and "msteams" in e.message for e in events)

        # A channel that renders but that Alertmanager refuses (email without any smarthost): amtool
        # refuses the merged file, the safety net finds that channel by checking parts alone and leaves it
        # out with amtool's message; another team's change in the same burst still lands.
        mail = {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "mail"},
            "spec": {"type": "email", "email": {"to": "ops@example.com"}, "route": {}},
        }
        hook_three = {**hook, "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/three"}, "route": {}}}
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([mail, hook_three]))

        def last_error() -> str:
            out = plane.kubectl("-n", namespace, "get", "amc", "main", "-o", "json").stdout
            return str(json.loads(out)["status"].get("lastError", ""))

        eventually(lambda: hook_url() == "http://127.0.0.1:9/three", 30, what="the other change landed")
        eventually(lambda: rows("nc")["mail"]["READY"] == "False", 30, what="the refused channel reported alone")
        mail_status = json.loads(plane.kubectl("-n", namespace, "get", "nc", "mail", "-o", "json").stdout)["status"]
        assert "smarthost" in mail_status["conditions"][0]["message"]
        assert f"{namespace}/mail" not in {r["name"] for r in _config(core, namespace)["receivers"]}  # type: ignore[index]
        assert last_error() == ""
        plane.kubectl("-n", namespace, "delete", "nc", "mail")

        # A policy Alertmanager would refuse (a backwards weekday range) is left out alone instead.
        backwards = {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "backwards"},
            "spec": {
                "matchers": [{"name": "a", "value": "b"}],
                "maintenanceWindows": [{"name": "weekend", "recurring": {"weekdays": ["saturday:sunday"]}}],
            },
        }
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(backwards))
        eventually(lambda: rows("sp")["backwards"]["READY"] == "False", 30, what="policy invalid alone")
        assert last_error() == ""

        # Rotating a referenced Secret reaches the config.
        core.patch_namespaced_secret("slack", namespace, {"stringData": {"url": "https://hooks.slack.example/two"}})

        def slack_url() -> str:
            receivers = {r["name"]: r for r in (_config(core, namespace) or {}).get("receivers", [])}
            return str(receivers[f"{namespace}/team-slack"]["slack_configs"][0]["api_url"])

        eventually(lambda: slack_url() == "https://hooks.slack.example/two", 30, what="rotated secret")
        eventually(
            lambda: loaded_hash() == config_hash_metric(secret_text()), 30, what="rotated secret loaded by Alertmanager"
        )
        status = json.loads(plane.kubectl("-n", namespace, "get", "amc", "main", "-o", "json").stdout)["status"]
        assert status["lastError"] == ""

        # An operator restart rewrites nothing and reloads nothing.
        def reload_time() -> float:
            text = httpx.get(f"{alertmanager.url}/metrics", timeout=5).text
            line = next(
                x for x in text.splitlines() if x.startswith("alertmanager_config_last_reload_success_timestamp")
            )
            return float(line.split()[-1])

        eventually(lambda: loaded_hash() == config_hash_metric(secret_text()), 30)
        version, reloaded = (
            core.read_namespaced_secret("main-alertmanager-config", namespace).metadata.resource_version,
            reload_time(),
        )
        operator.stop()
        operator, _ = start_operator(plane, tmp_path, namespace)
        time.sleep(4)  # several health intervals, each re-rendering the config
        assert core.read_namespaced_secret("main-alertmanager-config", namespace).metadata.resource_version == version
        assert reload_time() == reloaded

        # The Secret never shows up in the cluster's status or the operator's log.
        assert "hooks.slack.example" not in json.dumps(status)
        for log in tmp_path.glob("operator-*.log"):  # before and after the restart
            assert "hooks.slack.example" not in log.read_text()
    finally:
        operator.stop()
        sidecar.stop()
