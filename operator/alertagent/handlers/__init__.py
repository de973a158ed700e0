"""Kopf wiring. Importing this package registers every handler."""

from . import admission, alertrules, clusters, shards

__all__ = ["admission", "alertrules", "clusters", "shards"]
