"""How handlers reach the operator state: Kopf passes `memo`, a shallow copy of the operator's, per object."""

from __future__ import annotations

from typing import Any

from ..reconcile.state import OperatorState


def state_of(memo: Any) -> OperatorState:
    state = memo["state"]
    assert isinstance(state, OperatorState), "run the operator with memo=kopf.Memo(state=OperatorState...)"
    return state
