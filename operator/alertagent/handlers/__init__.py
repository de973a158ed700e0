"""Kopf wiring. Importing this package registers every handler."""

from . import alertrules, clusters, shards

__all__ = ["alertrules", "clusters", "shards"]
