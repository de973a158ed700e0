"""Routing on the real Alertmanager with local webhook receivers: alerts reach exactly the receivers
their labels route to; a tenant's channel never gets another namespace's alerts; an inhibit rule
suppresses its target; a recurring window active now mutes and an inactive one does not; a
cluster-wide channel gets a copy of a tenant's alerts, or takes them when exclusive, whichever way the
namespace names sort."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.receivers import webhook_receiver

GROUP = "alertagent.io/v1alpha1"


def _cluster(namespace: str, alertmanager: AlertmanagerTarget) -> dict[str, Any]:
    """An AlertmanagerCluster that groups for one second, so notifications arrive quickly."""
    return {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": namespace},
        "spec": {"alertmanager": {"url": alertmanager.url}, "route": {"groupWait": "1s", "groupInterval": "1s"}},
    }


def _post(alertmanager: AlertmanagerTarget, **labels: str) -> None:
    now = datetime.now(UTC)
    alert = {"labels": labels, "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
    httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def test_alerts_reach_exactly_the_routed_receivers(
    installed_crds: ControlPlane,
    namespace: str,
    tenant_namespaces: tuple[str, str],
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane, (ns_a, ns_b) = installed_crds, tenant_namespaces
    with webhook_receiver() as (url, received):

        def channel(ns: str, path: str) -> dict:
            return {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": "alerts", "namespace": ns},
                "spec": {
                    "type": "webhook",
                    "webhook": {"url": f"{url}/{path}"},
                    "route": {"matchers": [{"name": "severity", "value": "critical"}]},
                },
            }

        objects = [
            _cluster(namespace, alertmanager),
            channel(ns_a, "a"),
            channel(ns_b, "b"),
            {
                "apiVersion": GROUP,
                "kind": "SuppressionPolicy",
                "metadata": {"name": "db", "namespace": ns_a},
                "spec": {
                    "inhibitRules": [
                        {
                            "sourceMatchers": [{"name": "alertname", "value": "DbDown"}],
                            "targetMatchers": [{"name": "inhibitable", "value": "yes"}],
                        }
                    ]
                },
            },
            {
                "apiVersion": GROUP,
                "kind": "SuppressionPolicy",
                "metadata": {"name": "now", "namespace": ns_a},
                "spec": {
                    "matchers": [{"name": "service", "value": "muted"}],
                    "maintenanceWindows": [{"name": "always", "recurring": {}}],
                },
            },
            {
                "apiVersion": GROUP,
                "kind": "SuppressionPolicy",
                "metadata": {"name": "later", "namespace": ns_b},
                "spec": {
                    "matchers": [{"name": "service", "value": "quiet"}],
                    "maintenanceWindows": [{"name": "someday", "recurring": {"years": ["2031"]}}],
                },
            },
        ]
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
        operator, _ = start_operator(plane, tmp_path, (namespace, ns_a, ns_b))
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        try:
            eventually(lambda: "2031" in alertmanager.status()["config"]["original"], 30, what="config loaded")

            _post(alertmanager, alertname="DbDown", namespace=ns_a, severity="warning")
            time.sleep(1)
            _post(alertmanager, alertname="ForA", namespace=ns_a, severity="critical")
            _post(alertmanager, alertname="ForB", namespace=ns_b, severity="critical")
            _post(alertmanager, alertname="Muted", namespace=ns_a, severity="critical", service="muted")
            _post(alertmanager, alertname="NotYetQuiet", namespace=ns_b, severity="critical", service="quiet")
            _post(alertmanager, alertname="Inhibited", namespace=ns_a, severity="critical", inhibitable="yes")
            # The same inhibit rule in namespace b's alerts does nothing: it is a's policy.
            _post(alertmanager, alertname="DbDown", namespace=ns_b, severity="warning")
            _post(alertmanager, alertname="NotInhibited", namespace=ns_b, severity="critical", inhibitable="yes")

            def names(path: str) -> set[str]:
                return {a["labels"]["alertname"] for a in received.alerts(path)}

            eventually(lambda: {"ForB", "NotYetQuiet", "NotInhibited"} <= names("/b"), 30, what="b's alerts")
            eventually(lambda: "ForA" in names("/a"), 30, what="a's alert")
            time.sleep(4)  # several group intervals: anything misrouted would have arrived by now
            assert names("/a") == {"ForA"}  # not Muted (window active), not Inhibited, nothing of b's
            assert names("/b") == {"ForB", "NotYetQuiet", "NotInhibited"}  # window inactive; a's rule not b's

            alerts = httpx.get(f"{alertmanager.url}/api/v2/alerts", params={"filter": "alertname=Inhibited"}).json()
            assert alerts[0]["status"]["inhibitedBy"], alerts
        finally:
            operator.stop()
            sidecar.stop()


def test_a_window_mutes_a_continue_route_and_later_routes_still_see_the_rest(
    installed_crds: ControlPlane,
    namespace: str,
    tenant_namespaces: tuple[str, str],
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    """Issue 11 item 7, on the real Alertmanager at a time inside a window: a channel whose route has
    `continue: true` gets none of the policy's alerts during the window (nor does any later channel),
    while other alerts, and the policy's alerts outside a window, still reach it and what follows."""
    plane, (ns_a, _) = installed_crds, tenant_namespaces
    with webhook_receiver() as (url, received):

        def channel(name: str, keep_going: bool) -> dict:
            route = {"matchers": [{"name": "severity", "value": "critical"}], "continue": keep_going}
            return {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": name, "namespace": ns_a},
                "spec": {"type": "webhook", "webhook": {"url": f"{url}/{name}"}, "route": route},
            }

        def policy(name: str, service: str, recurring: dict) -> dict:
            return {
                "apiVersion": GROUP,
                "kind": "SuppressionPolicy",
                "metadata": {"name": name, "namespace": ns_a},
                "spec": {
                    "matchers": [{"name": "service", "value": service}],
                    "maintenanceWindows": [{"name": "w", "recurring": recurring}],
                },
            }

        objects = [
            _cluster(namespace, alertmanager),
            channel("first", keep_going=True),
            channel("later", keep_going=False),
            policy("api-upgrade", "api", {"times": [{"startTime": "00:00", "endTime": "24:00"}]}),  # all day
            policy("db-someday", "db", {"years": ["2031"]}),
        ]
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
        operator, _ = start_operator(plane, tmp_path, (namespace, ns_a))
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        try:
            eventually(lambda: "2031" in alertmanager.status()["config"]["original"], 30, what="config loaded")
            for alertname, service in (("ApiDown", "api"), ("WebDown", "web"), ("DbDown", "db")):
                _post(alertmanager, alertname=alertname, namespace=ns_a, severity="critical", service=service)

            def names(path: str) -> set[str]:
                return {a["labels"]["alertname"] for a in received.alerts(path)}

            eventually(lambda: names("/first") >= {"WebDown", "DbDown"}, 30, what="first channel's alerts")
            eventually(lambda: names("/later") >= {"WebDown", "DbDown"}, 30, what="passed on by continue")
            time.sleep(4)  # several group intervals: a muted alert would have arrived by now
            assert names("/first") == {"WebDown", "DbDown"}  # ApiDown muted in the window despite continue
            assert names("/later") == {"WebDown", "DbDown"}
        finally:
            operator.stop()
            sidecar.stop()


def _channel_route(alertmanager: AlertmanagerTarget, receiver: str) -> dict[str, Any] | None:
    """The loaded root child route of a channel (not its test-send route), if any."""
    config = yaml.safe_load(alertmanager.status()["config"]["original"])  # type: ignore[index]
    routes = config["route"].get("routes", [])
    return next((r for r in routes if r["receiver"] == receiver and "alertagent_test_channel" not in str(r)), None)


@pytest.mark.parametrize("tenant_sorts", ["before", "after"])
def test_a_cluster_wide_channel_copies_a_tenants_alerts_or_takes_them_when_exclusive(
    installed_crds: ControlPlane,
    namespace: str,
    api_client: client.ApiClient,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
    tenant_sorts: str,
) -> None:
    """Issue 12 item 2: a channel in the cluster's namespace matching severity="critical" (its
    `continue` left false) and tenant `shop`'s own channel. Whether `shop`'s namespace sorts before or
    after the cluster's, `shop`'s critical alert reaches `shop`'s channel and a copy reaches the cluster
    channel; once the cluster channel says `exclusive: true`, it alone gets `shop`'s next one."""
    plane = installed_crds
    shop = f"shop-{namespace[-6:]}" if tenant_sorts == "before" else f"{namespace[:50]}-shop"
    assert (shop < namespace) == (tenant_sorts == "before")  # the premise: both orders are exercised
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=shop)))
    try:
        with webhook_receiver() as (url, received):

            def channel(ns: str, path: str, **route: Any) -> dict:
                return {
                    "apiVersion": GROUP,
                    "kind": "NotificationChannel",
                    "metadata": {"name": path, "namespace": ns},
                    "spec": {
                        "type": "webhook",
                        "webhook": {"url": f"{url}/{path}"},
                        "route": {"matchers": [{"name": "severity", "value": "critical"}], **route},
                    },
                }

            objects = [_cluster(namespace, alertmanager), channel(namespace, "oncall"), channel(shop, "pager")]
            plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
            operator, _ = start_operator(plane, tmp_path, (namespace, shop))
            sidecar, _ = start_alertmanager_sidecar(
                plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
            )
            try:
                eventually(lambda: _channel_route(alertmanager, f"{shop}/pager"), 30, what="config loaded")

                def names(path: str) -> set[str]:
                    return {a["labels"]["alertname"] for a in received.alerts(path)}

                _post(alertmanager, alertname="DatabaseDown", namespace=shop, severity="critical")
                _post(alertmanager, alertname="EtcdDown", namespace=namespace, severity="critical")
                eventually(lambda: "DatabaseDown" in names("/pager"), 30, what="shop's alert at shop's channel")
                eventually(lambda: names("/oncall") >= {"DatabaseDown", "EtcdDown"}, 30, what="the cluster's copy")
                time.sleep(4)  # several group intervals: anything misrouted would have arrived by now
                assert names("/pager") == {"DatabaseDown"}  # not the cluster's own alert
                assert names("/oncall") == {"DatabaseDown", "EtcdDown"}

                exclusive = channel(namespace, "oncall", exclusive=True)
                plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(exclusive))
                eventually(
                    lambda: (_channel_route(alertmanager, f"{namespace}/oncall") or {}).get("continue") is False,
                    30,
                    what="exclusive route loaded",
                )
                _post(alertmanager, alertname="PaymentsDown", namespace=shop, severity="critical")
                eventually(lambda: "PaymentsDown" in names("/oncall"), 30, what="taken by the exclusive channel")
                time.sleep(4)
                assert "PaymentsDown" not in names("/pager")
            finally:
                operator.stop()
                sidecar.stop()
    finally:
        core.delete_namespace(shop)
