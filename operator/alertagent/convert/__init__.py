"""Conversion of prometheus-operator objects into AlertAgent objects (pure: manifests in, manifests
and a report out; reading files and printing is the CLI's, `alertagent convert`).

- PrometheusRule (monitoring.coreos.com/v1) → AlertRule (`rules.py`);
- AlertmanagerConfig (monitoring.coreos.com/v1alpha1, v1beta1) → one NotificationChannel per receiver
  integration, and one SuppressionPolicy for its time intervals and inhibit rules (`alertmanagerconfig.py`).

Every source field is either mapped or reported by its path (`report.Unmapped`); every emitted object
passes AlertAgent's own validation.
"""

from .objects import Conversion, convert_manifests
from .report import Unmapped

__all__ = ["Conversion", "Unmapped", "convert_manifests"]
