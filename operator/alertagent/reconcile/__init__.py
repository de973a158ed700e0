"""Reconcile steps (apply the pure plans with the clients), the keyed work queue with its retry
contract, and the operator's state object."""
