"""`alertagent incidents list|show` text (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.incidents.present import impacted_tree, incident_report, incident_table

NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)


def incident(name: str = "postgres-1a2b3c4d", **status: object) -> dict[str, object]:
    base = {
        "state": "Firing",
        "severity": "critical",
        "root": {"namespace": "data", "name": "postgres", "alerts": ["DatabaseDown"]},
        "impacted": [
            {"namespace": "shop", "name": "api", "depth": 1, "alerts": 2, "suppressed": 2, "parent": "data/postgres"},
            {"namespace": "shop", "name": "web", "depth": 2, "alerts": 1, "suppressed": 1, "parent": "shop/api"},
            {"namespace": "shop", "name": "cart", "depth": 1, "alerts": 1, "suppressed": 1, "parent": "data/postgres"},
            {"namespace": "data", "name": "backup", "depth": 0, "alerts": 1},
        ],
        "services": 5,
        "alerts": 6,
        "suppressedAlerts": 4,
        "startTime": "2027-01-15T08:48:00Z",
        "timeline": [{"time": "2027-01-15T08:48:00Z", "event": "first alert: DatabaseDown on data/postgres"}],
        "notifications": {"sent": 1, "channels": ["shop/oncall"]},
    }
    return {
        "metadata": {"namespace": "data", "name": name},
        "spec": {"cluster": "monitoring/main"},
        "status": base | status,
    }


def test_the_table_lists_newest_first_with_age() -> None:
    old = incident("redis-0f0f0f0f", startTime="2027-01-13T09:00:00Z", state="Resolved")
    text = incident_table([old, incident()], NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "ROOT", "SEVERITY", "SERVICES", "ALERTS", "STATE", "AGE"]
    assert lines[1].split() == ["data", "postgres-1a2b3c4d", "data/postgres", "critical", "5", "6", "Firing", "12m"]
    assert lines[2].split()[-2:] == ["Resolved", "2d"]


def test_the_tree_follows_dependencies_and_lists_the_detached_last() -> None:
    assert impacted_tree(incident()["status"]) == [  # type: ignore[arg-type]
        "data/postgres (root: DatabaseDown)",
        "├─ shop/api (2 alerts, 2 suppressed)",
        "│  └─ shop/web (1 alert, 1 suppressed)",
        "└─ shop/cart (1 alert, 1 suppressed)",
        "data/backup (1 alert) (alerting too; does not depend on the root)",
    ]


def test_the_tree_is_capped_with_a_count_of_the_rest() -> None:
    impacted = [
        {"namespace": "shop", "name": f"s{i:03}", "depth": 1, "alerts": 1, "parent": "data/postgres"} for i in range(50)
    ]
    lines = impacted_tree(incident(impacted=impacted)["status"], limit=10)  # type: ignore[arg-type]
    assert len(lines) == 11 and lines[-1] == "... and 41 more"


def test_the_report_shows_summary_tree_and_timeline() -> None:
    text = incident_report(incident())
    assert "Cluster:       monitoring/main" in text
    assert "Alerts:        6 firing, 4 suppressed in Alertmanager" in text
    assert "Notifications: 1 sent to shop/oncall" in text
    assert "  2027-01-15T08:48:00Z  first alert: DatabaseDown on data/postgres" in text
