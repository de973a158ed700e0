"""The targets' own checkers, run on rendered output before it is written (blocking)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile


def amtool_check(text: str) -> str | None:
    """`amtool check-config` on an alertmanager.yaml text: None when it is valid or amtool is not
    installed, else amtool's whole message (whitespace folded, the temporary file named
    `alertmanager.yaml`). It can quote Secret values: scrub it before it goes anywhere, then cut it."""
    amtool = shutil.which("amtool")
    if amtool is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        result = subprocess.run([amtool, "check-config", handle.name], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    return " ".join((result.stdout + result.stderr).replace(handle.name, "alertmanager.yaml").split())
