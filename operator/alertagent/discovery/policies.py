"""NetworkPolicies as evidence (pure): does the cluster's policy allow, confirm or forbid a path from
one set of pods to another?

Semantics follow the NetworkPolicy API (k8s.io/api networking/v1, "NetworkPolicySpec"): a pod is
isolated for egress (ingress) when some policy in its namespace selects it and lists Egress (Ingress)
in `policyTypes` (absent: Ingress, plus Egress when the policy has egress rules). An isolated pod may
reach (be reached by) a peer only if a rule of one of those policies allows it; rules of all policies
add up. A rule with no peers allows every peer. A peer is pods matching `podSelector` in the policy's
namespace, or in the namespaces `namespaceSelector` matches (both: pods matching the first in
namespaces matching the second); `ipBlock` peers name addresses outside the pod network and are not
matched against pods. Ports are not compared: a Service port maps to a container port the graph does
not know, so a rule with ports counts for the path.

Verdicts, per (caller pods, callee pods): `forbidden` when the caller's egress or the callee's ingress
is isolated and no rule allows the path (the isolating policies are named); `allowed` when it is not
forbidden and a rule names the other side with a pod selector that singles it out; otherwise no
verdict. A selector singles out when it matches the pods of at most `SPECIFIC_NODES` graph nodes (or
of no more nodes than the values its `In` expressions list): a rule allowing everything, whole
namespaces, or a whole application (`app.kubernetes.io/part-of: shop`) permits the path but does not
confirm it is used. When the outcome cannot be known, there is no verdict rather than `forbidden`: a
rule with an `ipBlock` peer (whether a pod IP falls in it depends on the network plugin) or a
namespace selector on labels of a namespace the input has no Namespace object for. A namespace's
labels come from its Namespace object; without one, only `kubernetes.io/metadata.name`, which the API
server sets on every namespace, is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..common.identity import namespace_of

Labels = Mapping[str, str]
SPECIFIC_NODES = 2
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector: all of match_labels and match_expressions (In, NotIn, Exists, DoesNotExist)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Labels) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels):
            return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True

    @classmethod
    def parse(cls, doc: Mapping[str, Any] | None) -> LabelSelector:
        doc = doc or {}
        expressions = tuple(
            sorted(
                (str(e.get("key", "")), str(e.get("operator", "")), tuple(sorted(e.get("values") or ())))
                for e in doc.get("matchExpressions") or ()
            )
        )
        return cls(tuple(sorted((doc.get("matchLabels") or {}).items())), expressions)


@dataclass(frozen=True)
class Peer:
    pods: LabelSelector | None  # None: every pod of the selected namespaces
    namespaces: LabelSelector | None  # None: the policy's own namespace
    ip_block: bool = False

    def matches(self, policy_namespace: str, namespace: str, namespace_labels: Labels, pod_labels: Labels) -> bool:
        if self.ip_block:
            return False
        if self.namespaces is None:
            in_scope = namespace == policy_namespace
        else:
            in_scope = self.namespaces.matches(namespace_labels)
        return in_scope and (self.pods is None or self.pods.matches(pod_labels))

    @property
    def specific(self) -> bool:
        """Names pods by label, so allowing it says this path is meant."""
        return self.pods is not None and not self.pods.empty


Rule = tuple[Peer, ...]  # empty: every peer


@dataclass(frozen=True)
class NetworkPolicyFacts:
    namespace: str
    name: str
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...] | None  # None: does not isolate ingress
    egress: tuple[Rule, ...] | None  # None: does not isolate egress

    @property
    def id(self) -> str:
        return f"{self.namespace}/networkpolicy/{self.name}"


@dataclass(frozen=True)
class NamespaceFacts:
    name: str
    labels: tuple[tuple[str, str], ...]


def _peers(rule: Mapping[str, Any], side: str) -> Rule:
    peers = []
    for peer in rule.get(side) or ():
        pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
        peers.append(
            Peer(
                None if pods is None else LabelSelector.parse(pods),
                None if namespaces is None else LabelSelector.parse(namespaces),
                ip_block=peer.get("ipBlock") is not None and pods is None and namespaces is None,
            )
        )
    return tuple(peers)


def network_policy_facts(obj: Mapping[str, Any]) -> NetworkPolicyFacts:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    ingress = tuple(_peers(r, "from") for r in spec.get("ingress") or ()) if "Ingress" in types else None
    egress = tuple(_peers(r, "to") for r in spec.get("egress") or ()) if "Egress" in types else None
    return NetworkPolicyFacts(
        namespace_of(meta), meta.get("name") or "", LabelSelector.parse(spec.get("podSelector")), ingress, egress
    )


def namespace_facts(obj: Mapping[str, Any]) -> NamespaceFacts:
    meta = obj.get("metadata") or {}
    return NamespaceFacts(meta.get("name") or "", tuple(sorted((meta.get("labels") or {}).items())))


@dataclass(frozen=True)
class Pods:
    """A set of pods: their namespace and the labels of their template."""

    namespace: str
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "" | "allowed" | "forbidden"
    policies: tuple[str, ...] = ()  # policy ids (ns/networkpolicy/name) that decided it


class PolicyView:
    """The NetworkPolicies and namespace labels of a cluster, queried per path."""

    def __init__(
        self,
        policies: Iterable[NetworkPolicyFacts],
        namespaces: Mapping[str, Labels],
        nodes: Mapping[str, Iterable[Pods]] | None = None,
    ) -> None:
        """`nodes`: every graph node's pod sets, to tell a selector that singles a service out from
        one that covers many."""
        self._by_namespace: dict[str, list[NetworkPolicyFacts]] = {}
        for policy in sorted(policies, key=lambda p: p.name):
            self._by_namespace.setdefault(policy.namespace, []).append(policy)
        self._namespaces = namespaces
        self._nodes = {node: tuple(pods) for node, pods in (nodes or {}).items()}
        self._isolating: dict[tuple[Pods, str], list[NetworkPolicyFacts]] = {}
        self._verdicts: dict[tuple[Pods, Pods], Verdict] = {}
        self._specific: dict[tuple[str, Peer], bool] = {}

    def __bool__(self) -> bool:
        return bool(self._by_namespace)

    def _namespace_labels(self, namespace: str) -> Labels:
        labels = self._namespaces.get(namespace)
        return labels if labels is not None else {"kubernetes.io/metadata.name": namespace}

    def _selecting(self, pods: Pods, direction: str) -> list[NetworkPolicyFacts]:
        """The policies that isolate these pods in this direction (cached: a pod set is on many edges)."""
        key = (pods, direction)
        found = self._isolating.get(key)
        if found is None:
            labels = dict(pods.labels)
            found = [
                p
                for p in self._by_namespace.get(pods.namespace, ())
                if (p.egress if direction == "egress" else p.ingress) is not None and p.pod_selector.matches(labels)
            ]
            self._isolating[key] = found
        return found

    def _singles_out(self, policy: NetworkPolicyFacts, peer: Peer) -> bool:
        """Whether the peer's pod selector names few enough nodes to say "this path is meant"."""
        key = (policy.namespace, peer)
        found = self._specific.get(key)
        if found is None:
            assert peer.pods is not None  # only asked of specific peers
            listed = sum(len(values) for _, op, values in peer.pods.match_expressions if op == "In")
            matched = sum(
                any(
                    peer.matches(policy.namespace, p.namespace, self._namespace_labels(p.namespace), dict(p.labels))
                    for p in pods
                )
                for pods in self._nodes.values()
            )
            found = self._specific[key] = matched <= max(SPECIFIC_NODES, listed)
        return found

    def _unknowable(self, peer: Peer, other: Pods) -> bool:
        """Whether the peer may cover `other` in a way the input cannot tell."""
        if peer.ip_block:
            return True
        if peer.namespaces is None or other.namespace in self._namespaces:
            return False
        keys = {k for k, _ in peer.namespaces.match_labels} | {k for k, _, _ in peer.namespaces.match_expressions}
        return bool(keys - {NAME_LABEL})

    def _side(self, pods: Pods, other: Pods, direction: str) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
        """(isolating policies, allowed, confirming policies) for `pods` reaching (egress) or being
        reached by (ingress) `other`; allowed is also true when it cannot be known."""
        isolating = self._selecting(pods, direction)
        if not isolating:
            return (), False, ()
        other_labels = dict(other.labels)
        other_ns_labels = self._namespace_labels(other.namespace)
        confirming: list[str] = []
        allowed = False
        for policy in isolating:
            rules = (policy.egress if direction == "egress" else policy.ingress) or ()
            for rule in rules:
                if not rule:
                    allowed = True
                    continue
                for peer in rule:
                    if peer.matches(policy.namespace, other.namespace, other_ns_labels, other_labels):
                        allowed = True
                        if peer.specific and policy.id not in confirming and self._singles_out(policy, peer):
                            confirming.append(policy.id)
                    elif self._unknowable(peer, other):
                        allowed = True  # not forbidden: it may well be allowed
        return tuple(p.id for p in isolating), allowed, tuple(confirming)

    def verdict(self, caller: Pods, callee: Pods) -> Verdict:
        """The verdict for one pair of pod sets (cached: catalogs put every pair on an edge)."""
        found = self._verdicts.get((caller, callee))
        if found is None:
            found = self._verdicts[caller, callee] = self._verdict(caller, callee)
        return found

    def _verdict(self, caller: Pods, callee: Pods) -> Verdict:
        out_isolating, out_allowed, out_confirming = self._side(caller, callee, "egress")
        in_isolating, in_allowed, in_confirming = self._side(callee, caller, "ingress")
        blocking = (() if out_allowed else out_isolating) + (() if in_allowed else in_isolating)
        if blocking:
            return Verdict("forbidden", blocking)
        confirming = out_confirming + in_confirming
        return Verdict("allowed", confirming) if confirming else Verdict("")

    def path_verdict(self, callers: Iterable[Pods], callees: Iterable[Pods]) -> Verdict:
        """Over every pair of pod sets: allowed if any pair is confirmed, forbidden if every pair is
        forbidden, else no verdict."""
        verdicts = [self.verdict(a, b) for a in callers for b in callees]
        if not verdicts:
            return Verdict("")
        if allowed := [v for v in verdicts if v.verdict == "allowed"]:
            return Verdict("allowed", tuple(sorted({p for v in allowed for p in v.policies})))
        if all(v.verdict == "forbidden" for v in verdicts):
            return Verdict("forbidden", tuple(sorted({p for v in verdicts for p in v.policies})))
        return Verdict("")
