"""How long the Alertmanager safety net takes to find one object the target refuses among 500
channels, with the real amtool checking every part it bisects (each check renders the part and runs
`amtool check-config` on it).

No input passes AlertAgent's validation and fails amtool, by design, so the refusal is simulated: the
checker runs the real amtool and also refuses a file holding the one marked channel's URL. The
timing is that of real renders and real amtool runs.

    .venv/bin/python -m benchmarks.bench_safety_net
"""

from __future__ import annotations

import shutil
import statistics
import time

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.clients.tools import amtool_check
from alertagent.render.checked import render_checked

CHANNELS, BAD = 500, 137


def _channel(i: int) -> NotificationChannel:
    spec = {"type": "webhook", "webhook": {"url": f"http://hooks-{i:04d}.example/alerts"}, "route": {}}
    return NotificationChannel.model_validate(
        {"metadata": {"name": f"c{i}", "namespace": f"team-{i % 50}"}, "spec": spec}
    )


def main() -> None:
    if shutil.which("amtool") is None:
        raise SystemExit("amtool is not installed (apt-get install prometheus-alertmanager)")
    cluster = AlertmanagerCluster.model_validate(
        {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
    )
    channels = [_channel(i) for i in range(CHANNELS)]
    marker = f"hooks-{BAD:04d}.example"
    calls: list[float] = []

    def check(text: str) -> str | None:
        started = time.perf_counter()
        verdict = amtool_check(text)
        calls.append(time.perf_counter() - started)
        return verdict or (f"refused: {marker}" if marker in text else None)

    runs = []
    for _ in range(3):
        calls.clear()
        started = time.perf_counter()
        checked = render_checked(cluster, channels, [], lambda ns, ref: None, check)
        runs.append(time.perf_counter() - started)
        assert [str(r) for r in checked.culprits] == [f"NotificationChannel team-{BAD % 50}/c{BAD}"], checked.culprits
        assert checked.error is None
    print(f"input: {CHANNELS} webhook channels, 1 refused")
    print(
        f"isolate + final render: median {statistics.median(runs):.2f} s (runs {' / '.join(f'{r:.2f}' for r in runs)});"
        f" {len(calls)} amtool checks, {statistics.median(calls) * 1000:.0f} ms each (median)"
    )
    clean = channels[:BAD] + channels[BAD + 1 :]
    started = time.perf_counter()
    render_checked(cluster, clean, [], lambda ns, ref: None, check)
    print(f"nothing refused (one check): {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
