"""Kopf wiring. Importing this package registers every handler."""

from . import admission, alertrules, clusters, discovery, notifications, object_status, shards, testsend

__all__ = ["admission", "alertrules", "clusters", "discovery", "notifications", "object_status", "shards", "testsend"]
