"""Pydantic models of the AlertAgent custom resources: the single source of truth for the CRDs."""

from .alertmanagercluster import AlertmanagerCluster, AlertmanagerClusterSpec, AlertmanagerClusterStatus
from .alertrule import AlertRule, AlertRuleSpec, AlertRuleStatus
from .base import API_VERSION, GROUP, VERSION
from .notificationchannel import NotificationChannel, NotificationChannelSpec, NotificationChannelStatus
from .suppressionpolicy import SuppressionPolicy, SuppressionPolicySpec, SuppressionPolicyStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AlertRule",
    "AlertRuleSpec",
    "AlertRuleStatus",
    "AlertmanagerCluster",
    "AlertmanagerClusterSpec",
    "AlertmanagerClusterStatus",
    "NotificationChannel",
    "NotificationChannelSpec",
    "NotificationChannelStatus",
    "SuppressionPolicy",
    "SuppressionPolicySpec",
    "SuppressionPolicyStatus",
]
