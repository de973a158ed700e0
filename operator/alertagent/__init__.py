"""AlertAgent: a Kubernetes operator for Prometheus, vmalert and Alertmanager alerting."""

import sys

__version__ = "0.1.0"

# httpx imports its own command line (rich, click, pygments) whenever those happen to be installed:
# ~0.1 s and ~2 MiB at every start of the operator, the sidecar and the gateway, none of which runs it.
# Marking the module absent makes httpx fall back to its stub (`httpx.main` then says to install httpx[cli]).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
