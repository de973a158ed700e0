"""An alert's own PromQL, evaluated over the last hour (pure): where its expression is, and when the
condition began to hold.

- `expr_from_generator_url`: the expression from an alert's `generatorURL`. Prometheus links to
  `<external-url>/graph?g0.expr=<expr>&g0.tab=1` (web/api rule links); VictoriaMetrics' vmui to
  `<base>/vmui/#/?g0.expr=<expr>`; vmalert's `-external.alert.source` is often a Grafana Explore link,
  `explore?left={"queries":[{"expr": ...}]}` (or the older `left=[from,to,datasource,{"expr": ...}]`);
  any other link with an `expr=` or `query=` parameter also works. vmalert's default,
  `<external-url>/vmalert/alert?group_id=..&alert_id=..`, names no expression: `vmalert_alert_api` gives
  the URL of its JSON form (`/api/v1/alert?group_id=..&alert_id=..`, whose `expression` field holds it).
- `query_range_params`: the parameters of `GET /api/v1/query_range` for a lookback window.
- `crossing`: from that response (`resultType: matrix`), when the current run of results began.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

EXPR_PARAMS = ("g0.expr", "expr", "query")
MAX_POINTS = 11_000  # Prometheus refuses a query_range over 11,000 points per series


def _first(params: Mapping[str, list[str]], names: tuple[str, ...]) -> str | None:
    for name in names:
        for value in params.get(name, []):
            if value.strip():
                return value.strip()
    return None


def _grafana_expr(left: str) -> str | None:
    """The first `expr` of a Grafana Explore `left` state (object or legacy array form)."""
    try:
        state = json.loads(left)
    except ValueError:
        return None
    items = state.get("queries") if isinstance(state, dict) else state
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("expr"), str) and item["expr"].strip():
            return str(item["expr"]).strip()
    return None


def _base(scheme: str, netloc: str, path: str, marker: str) -> str:
    prefix = path[: path.rfind(marker)] if marker in path else ""
    return urlunsplit((scheme, netloc, prefix.rstrip("/"), "", ""))


def expr_from_generator_url(url: str) -> tuple[str, str] | None:
    """(base_url, expr) from an alert's generatorURL, or None when it names no expression.

    `base_url` is where the Prometheus HTTP API of that evaluator is (`<base_url>/api/v1/query_range`):
    Prometheus's external URL (with its path prefix) for a `/graph` link; for vmui, the VictoriaMetrics
    root (single node) or `/select/<tenant>/prometheus` (cluster); "" when the link is not the
    evaluator's own (a Grafana Explore link): then query the cluster's evaluator."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    params = parse_qs(parts.query, keep_blank_values=False)
    fragment = parts.fragment
    if "?" in fragment:  # vmui: the query lives in the fragment, `#/?g0.expr=...`
        params = {**parse_qs(fragment.partition("?")[2]), **params}
    expr = _first(params, EXPR_PARAMS)
    if expr is None and params.get("left") and (found := _grafana_expr(params["left"][0])) is not None:
        return "", found
    if expr is None:
        return None
    path = parts.path
    if "/vmui" in path:
        base = _base(parts.scheme, parts.netloc, path, "/vmui")
        if "/select/" in base:  # VictoriaMetrics cluster: vmselect serves the API under /prometheus
            base += "/prometheus"
        return base, expr
    if path.rstrip("/").endswith("/graph") or path.rstrip("/").endswith("/query"):
        marker = "/graph" if path.rstrip("/").endswith("/graph") else "/query"
        return _base(parts.scheme, parts.netloc, path, marker), expr
    if path.rstrip("/").endswith("/explore"):
        return "", expr
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), expr


def vmalert_alert_api(url: str) -> str | None:
    """For vmalert's default generatorURL (`<base>/vmalert/alert?group_id=G&alert_id=A`, or the
    `/alert?...` form without the proxy prefix), the URL of the same alert as JSON
    (`<base>/api/v1/alert?group_id=G&alert_id=A`, field `expression`); None for other links."""
    parts = urlsplit(url.strip())
    params = parse_qs(parts.query)
    path = parts.path.rstrip("/")
    if not (path.endswith("/alert") and params.get("group_id") and params.get("alert_id")):
        return None
    prefix = path[: -len("/alert")]
    if prefix.endswith("/vmalert"):
        prefix = prefix[: -len("/vmalert")]
    query = f"group_id={params['group_id'][0]}&alert_id={params['alert_id'][0]}"
    return urlunsplit((parts.scheme, parts.netloc, f"{prefix}/api/v1/alert", query, ""))


def query_range_params(
    expr: str, end: datetime | float, lookback: float = 3600.0, step: float = 15.0
) -> dict[str, str]:
    """Parameters of `GET /api/v1/query_range` over the `lookback` seconds up to `end` (an aware
    datetime or Unix seconds): `query`, `start`, `end` (Unix seconds) and `step` (seconds), the step
    raised when `lookback / step` would exceed Prometheus's 11,000 points."""
    step = max(step, math.ceil(lookback / MAX_POINTS))
    stop = end.timestamp() if isinstance(end, datetime) else end
    return {"query": expr, "start": f"{stop - lookback:.3f}", "end": f"{stop:.3f}", "step": f"{step:g}"}


def crossing(matrix_json: Mapping[str, Any], end: datetime | float, step: float) -> tuple[datetime | None, int]:
    """(crossed_time, series) from a `/api/v1/query_range` response over a window ending at `end` (an
    aware datetime or Unix seconds), evaluated every `step` seconds.

    An alerting expression returns a series only while its condition holds, so the timestamps where
    any series has a sample are the times it held. The current run is the one reaching the end of the
    window (its last sample at most 2 steps before `end`); going back, a gap of more than 2 steps
    between samples ends it. `crossed_time` is its first sample (UTC), None when no run reaches the
    end; `series` counts the series with a sample in that last stretch (0 when none).

    Raises ValueError for an error response or a result that is not a matrix (its message says which).
    """
    if matrix_json.get("status") not in (None, "success"):
        raise ValueError(f"{matrix_json.get('errorType') or 'error'}: {matrix_json.get('error') or 'query failed'}")
    data = matrix_json.get("data") or {}
    if data.get("resultType") != "matrix":
        raise ValueError(f"expected a matrix result, got {data.get('resultType')!r}")
    tolerance = 2 * step
    stop = end.timestamp() if isinstance(end, datetime) else float(end)
    times: set[float] = set()
    current = 0
    for series in data.get("result") or []:
        stamps = [float(sample[0]) for sample in series.get("values") or [] if _holds(sample)]
        times.update(stamps)
        if stamps and stop - max(stamps) <= tolerance:
            current += 1
    ordered = sorted(times, reverse=True)
    if not ordered or stop - ordered[0] > tolerance:
        return None, 0
    start = ordered[0]
    for earlier in ordered[1:]:
        if start - earlier > tolerance:
            break
        start = earlier
    return datetime.fromtimestamp(start, UTC), current


def _holds(sample: Any) -> bool:
    """A `[unix_seconds, "value"]` pair with a number (a NaN value means no result at that step)."""
    try:
        return not math.isnan(float(sample[1]))
    except (TypeError, ValueError, IndexError):
        return False
