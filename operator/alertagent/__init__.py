"""AlertAgent: a Kubernetes operator for Prometheus, vmalert and Alertmanager alerting."""

import sys

__version__ = "0.1.0"

# httpx imports its own command line (rich, click, pygments) whenever those happen to be installed:
# ~0.1 s and ~2 MiB at every start of the operator, the sidecar and the gateway, none of which runs it.
# Marking the module absent makes httpx fall back to its stub (`httpx.main` then says to install httpx[cli]).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# The Kubernetes client's package imports its websocket, dynamic, informer and OAuth parts eagerly, none
# of which AlertAgent runs: about 190 modules and 5.5 MiB at every start. The finder defers them, before
# Kopf or our clients import the client (see common/lazyimports.py; ALERTAGENT_EAGER_IMPORTS=1 turns it off).
from .common import lazyimports  # noqa: E402

lazyimports.install()
