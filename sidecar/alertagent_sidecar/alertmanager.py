"""Sync for Alertmanager: write alertmanager.yml from the cluster's Secret atomically, POST
/-/reload, and verify that Alertmanager loaded exactly that file: `alertmanager_config_hash` (md5 of
the file's bytes) must match and the last reload must have succeeded. (`config.original` in
/api/v2/status masks secrets, so it cannot prove a rotated credential arrived.) Then report on the
Secret as the rule sync does on ConfigMaps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from kubernetes import client

from alertagent.clients.alertmanager import config_hash_metric, loaded_config_hash
from alertagent.clients.delivery import ShardState, report
from alertagent.clients.prometheus import ReloadError, reload
from alertagent.metrics import CONFIG_RELOAD_TOTAL

from .sync import write_atomically


class AlertmanagerSyncer:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        config_file: Path,
        key: str,
        target_url: str,
        verify_timeout_seconds: float = 30.0,
    ):
        self.core, self.namespace, self.config_file, self.key = core, namespace, config_file, key
        self.target_url, self.verify_timeout_seconds = target_url, verify_timeout_seconds
        self.http = httpx.Client(timeout=10)
        self.synced_once = False

    def sync(self, secrets: Mapping[str, ShardState]) -> None:
        if not secrets:
            return  # nothing rendered yet: leave Alertmanager's current file alone
        [secret] = secrets.values()
        text = secret.data.get(self.key)
        if text is None:
            raise KeyError(f"Secret {secret.name} has no key {self.key}")
        write_atomically(self.config_file, text)
        try:
            reload(self.http, self.target_url)
            deadline = time.monotonic() + self.verify_timeout_seconds
            expected = config_hash_metric(text)
            while loaded_config_hash(self.http, self.target_url) != expected:
                if time.monotonic() > deadline:
                    raise TimeoutError("alertmanager did not load the new configuration (its config hash differs)")
                time.sleep(0.2)
        except (ReloadError, httpx.HTTPError, TimeoutError) as err:
            CONFIG_RELOAD_TOTAL.labels("alertmanager", "error").inc()
            report(self.core, self.namespace, [secret], error=str(err)[:1000], secrets=True)
            raise
        CONFIG_RELOAD_TOTAL.labels("alertmanager", "success").inc()
        if secret.loaded_hash != secret.content_hash:
            report(self.core, self.namespace, [secret], error=None, secrets=True)
        self.synced_once = True
