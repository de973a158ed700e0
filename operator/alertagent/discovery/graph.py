"""The service dependency graph (pure), maintained incrementally.

`ServiceGraph` holds the facts of every object and, per *source* (a Service's annotations or
externalName, an Ingress, a workload, an unused ConfigMap), the edges and unresolved addresses that
source contributes. A change recomputes only the sources it can affect: the object itself; for a
Service, the workloads whose callers it changes and the sources that looked its name up; for a
ConfigMap, the workloads using it; and when a ConfigMap becomes or stops being a catalog (see
confidence.py), all its users. `snapshot()` gives the immutable `Graph` (see `snapshot.py`): nodes,
merged edges with their class and NetworkPolicy verdict, unresolved addresses and the cycles among the
selected edges. NetworkPolicies and Namespaces only matter at snapshot time.

Node ids: Service `ns/name`; workload no Service selects `ns/kind/name`; Ingress `ns/ingress/name`.
An edge goes from the caller to the callee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .addresses import Address, ServiceRef, parse_addresses
from .confidence import TELEMETRY, EdgeSelection, edge_class
from .facts import (
    WORKLOAD_KINDS,
    ConfigMapFacts,
    Evidence,
    IngressFacts,
    ServiceFacts,
    WorkloadFacts,
    configmap_facts,
    ingress_facts,
    owned,
    role_of,
    service_facts,
    workload_facts,
)
from .policies import NamespaceFacts, NetworkPolicyFacts, Pods, PolicyView, namespace_facts, network_policy_facts
from .snapshot import Edge, Graph, Node, Unresolved

# Evidence that names its key: enough to read a public-looking name (`FLAGD_HOST=flagd.dev`) as a Service.
NAMED_EVIDENCE = frozenset({"env", "annotation"})

Facts = ServiceFacts | IngressFacts | ConfigMapFacts | WorkloadFacts | NetworkPolicyFacts | NamespaceFacts
SourceKey = tuple[str, ...]  # ("service" | "ingress" | "configmap", ns, name) or ("workload", ns, kind, name)


@dataclass
class _Contribution:
    callers: tuple[str, ...] = ()
    edges: dict[tuple[str, str], set[Evidence]] = field(default_factory=dict)
    unresolved: set[Unresolved] = field(default_factory=set)
    # Services (namespace, name) whose existence decides this contribution: only their coming and going
    # recomputes it (keyed with the namespace: `api` in one namespace says nothing about `api` elsewhere).
    wants: set[tuple[str, str]] = field(default_factory=set)


class ServiceGraph:
    """The graph's state. Not thread-safe: one writer (the event loop) at a time."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str], ServiceFacts] = {}
        self.ingresses: dict[tuple[str, str], IngressFacts] = {}
        self.configmaps: dict[tuple[str, str], ConfigMapFacts] = {}
        self.workloads: dict[tuple[str, str, str], WorkloadFacts] = {}
        self._services_in: dict[str, set[str]] = {}
        self._workloads_in: dict[str, set[tuple[str, str, str]]] = {}
        self._configmap_users: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        self._contributions: dict[SourceKey, _Contribution] = {}
        self._wanted_by: dict[tuple[str, str], set[SourceKey]] = {}
        self._edges: dict[tuple[str, str], dict[SourceKey, frozenset[Evidence]]] = {}
        self.network_policies: dict[tuple[str, str], NetworkPolicyFacts] = {}
        self.namespaces: dict[str, NamespaceFacts] = {}
        self._catalogs: set[tuple[str, str]] = set()  # ConfigMaps that are service catalogs

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> ServiceGraph:
        """The graph of the objects. Put in the operator's watch order (Services first, then
        ConfigMaps, then callers): the result is the same in any order, this one is the fastest."""
        graph = cls()
        facts = [f for f in map(extract, objects) if f is not None]
        for fact in sorted(facts, key=lambda f: _LOAD_ORDER.index(type(f))):
            graph.put(fact)
        return graph

    # --- changes ---------------------------------------------------------------------------------

    def put(self, facts: Facts) -> bool:
        """Add or replace one object's facts and recompute what they affect. False: nothing changed."""
        if self._current(facts) == facts:
            return False
        if isinstance(facts, NetworkPolicyFacts):
            self.network_policies[facts.namespace, facts.name] = facts
        elif isinstance(facts, NamespaceFacts):
            self.namespaces[facts.name] = facts
        elif isinstance(facts, ServiceFacts):
            self._set_service((facts.namespace, facts.name), facts)
        elif isinstance(facts, WorkloadFacts):
            self._set_workload((facts.namespace, facts.kind, facts.name), facts)
        elif isinstance(facts, ConfigMapFacts):
            self._set_configmap((facts.namespace, facts.name), facts)
        else:
            self.ingresses[facts.namespace, facts.name] = facts
            self._recompute({("ingress", facts.namespace, facts.name)})
        return True

    def _current(self, facts: Facts) -> Facts | None:
        if isinstance(facts, ServiceFacts):
            return self.services.get((facts.namespace, facts.name))
        if isinstance(facts, WorkloadFacts):
            return self.workloads.get((facts.namespace, facts.kind, facts.name))
        if isinstance(facts, ConfigMapFacts):
            return self.configmaps.get((facts.namespace, facts.name))
        if isinstance(facts, NetworkPolicyFacts):
            return self.network_policies.get((facts.namespace, facts.name))
        if isinstance(facts, NamespaceFacts):
            return self.namespaces.get(facts.name)
        return self.ingresses.get((facts.namespace, facts.name))

    def remove(self, kind: str, namespace: str, name: str) -> bool:
        """Forget one object (kind as in its manifest: Service, Ingress, ConfigMap, Deployment, ...).
        False: it was not there."""
        known: dict[str, Mapping[tuple[str, str], Facts]] = {
            "Service": self.services,
            "ConfigMap": self.configmaps,
            "Ingress": self.ingresses,
        }
        if kind == "NetworkPolicy":
            return self.network_policies.pop((namespace, name), None) is not None
        if kind == "Namespace":
            return self.namespaces.pop(name, None) is not None
        if kind in WORKLOAD_KINDS:
            if (namespace, kind.lower(), name) not in self.workloads:
                return False
        elif (namespace, name) not in known.get(kind, {}):
            return False
        if kind == "Service":
            self._set_service((namespace, name), None)
        elif kind == "ConfigMap":
            self._set_configmap((namespace, name), None)
        elif kind == "Ingress":
            self.ingresses.pop((namespace, name), None)
            self._recompute({("ingress", namespace, name)})
        else:
            self._set_workload((namespace, kind.lower(), name), None)
        return True

    def _set_service(self, key: tuple[str, str], facts: ServiceFacts | None) -> None:
        namespace, name = key
        old = self.services.get(key)
        _keep(self.services, self._services_in, key, name, facts)
        affected: set[SourceKey] = {("service", namespace, name)}
        was_live, live = old is not None and not old.ignored, facts is not None and not facts.ignored
        if was_live != live:
            affected |= self._wanted_by.get(key, set())
        if old is None or facts is None or (old.selector, old.ignored) != (facts.selector, facts.ignored):
            for workload in self._workloads_in.get(namespace, ()):
                labels = dict(self.workloads[workload].pod_labels)
                if (old is not None and old.selects(labels)) or (facts is not None and facts.selects(labels)):
                    affected.add(("workload", *workload))
        self._recompute(affected)

    def _set_workload(self, key: tuple[str, str, str], facts: WorkloadFacts | None) -> None:
        namespace = key[0]
        old = self.workloads.get(key)
        before = old.configmaps if old else set()
        after = facts.configmaps if facts else set()
        affected: set[SourceKey] = {("workload", *key)}
        for name in before - after:
            users = self._configmap_users[namespace, name]
            users.discard(key)
            if not users:
                affected.add(("configmap", namespace, name))  # unused now: its app label may count
        for name in after - before:
            users = self._configmap_users.setdefault((namespace, name), set())
            if not users:
                affected.add(("configmap", namespace, name))
            users.add(key)
        _keep(self.workloads, self._workloads_in, key, key, facts)
        self._recompute(affected, {(namespace, name) for name in before | after})

    def _set_configmap(self, key: tuple[str, str], facts: ConfigMapFacts | None) -> None:
        if facts is None:
            self.configmaps.pop(key, None)
        else:
            self.configmaps[key] = facts
        users = self._configmap_users.get(key, set())
        self._recompute({("configmap", *key)} | {("workload", *w) for w in users})

    # --- derivation ------------------------------------------------------------------------------

    def _live(self, namespace: str, name: str) -> bool:
        facts = self.services.get((namespace, name))
        return facts is not None and not facts.ignored

    def _recompute(self, sources: set[SourceKey], configmaps: Iterable[tuple[str, str]] = ()) -> None:
        """Recompute the sources, then the users of every ConfigMap whose catalog status that changed
        (their callers and its users decide it; `configmaps`: others whose users changed)."""
        self._recompute_only(sources)
        touched = {(s[1], s[2]) for s in sources if s[0] == "configmap"} | set(configmaps)
        for source in sources:
            if source[0] == "workload" and (workload := self.workloads.get((source[1], source[2], source[3]))):
                touched |= {(workload.namespace, name) for name in workload.configmaps}
        while touched:
            flipped = {key for key in touched if self._is_catalog(key) != (key in self._catalogs)}
            self._catalogs ^= flipped
            users: set[SourceKey] = {
                ("workload", *user) for key in flipped for user in self._configmap_users.get(key, ())
            }
            self._recompute_only(users)
            touched = set()  # the users' callers did not change, so neither does any catalog status

    def _is_catalog(self, key: tuple[str, str]) -> bool:
        """Consumed by the workloads of two or more services (a Deployment and its canary behind one
        Service are one consumer), at least one of them whole, and naming one of its consumers."""
        users = self._configmap_users.get(key, set())
        configmap = self.configmaps.get(key)
        if len(users) < 2 or configmap is None or not configmap.addresses:
            return False
        namespace, name = key
        consumers: set[str] = set()
        whole = False
        for user in users:
            workload = self.workloads[user]
            whole = whole or any(use.configmap == name and use.type != "env" for use in workload.uses)
            contribution = self._contributions.get(("workload", *user))
            consumers.update(contribution.callers if contribution else (workload.id,))
        if not whole or len(consumers) < 2:
            return False
        for _, addresses in configmap.addresses:
            for address in addresses:
                callee, _ = self._resolve(namespace, address, set())
                if callee in consumers:
                    return True
        return False

    def _recompute_only(self, sources: set[SourceKey]) -> None:
        for source in sources:
            old = self._contributions.pop(source, None)
            if old is not None:
                for pair in old.edges:
                    by_source = self._edges[pair]
                    del by_source[source]
                    if not by_source:
                        del self._edges[pair]
                for wanted in old.wants:
                    self._wanted_by[wanted].discard(source)
            new = self._contribution(source)
            if new is None:
                continue
            self._contributions[source] = new
            for pair, evidence in new.edges.items():
                self._edges.setdefault(pair, {})[source] = frozenset(evidence)
            for wanted in new.wants:
                self._wanted_by.setdefault(wanted, set()).add(source)

    def _contribution(self, source: SourceKey) -> _Contribution | None:
        kind, namespace = source[0], source[1]
        if kind == "service":
            service = self.services.get((namespace, source[2]))
            return self._service_contribution(service) if service and not service.ignored else None
        if kind == "ingress":
            ingress = self.ingresses.get((namespace, source[2]))
            return self._ingress_contribution(ingress) if ingress else None
        if kind == "configmap":
            configmap = self.configmaps.get((namespace, source[2]))
            unused = not self._configmap_users.get((namespace, source[2]))
            return self._configmap_contribution(configmap) if configmap and unused and configmap.apps else None
        workload = self.workloads.get((namespace, source[2], source[3]))
        return self._workload_contribution(workload) if workload else None

    def _resolve(self, namespace: str, address: Address, wants: set[tuple[str, str]]) -> tuple[str | None, bool]:
        """The Service id the address names (or None), and whether a miss is worth reporting."""
        for ref in address.refs:
            target_ns = ref.namespace or namespace
            wants.add((target_ns, ref.name))
            if self._live(target_ns, ref.name):
                return f"{target_ns}/{ref.name}", False
        return None, address.certain

    def _add(self, out: _Contribution, namespace: str, address: Address, evidence: Evidence) -> None:
        if address.public and evidence.type not in NAMED_EVIDENCE:
            return  # a public domain name (flagd.dev) in a file or a command line: a web site, not a Service
        callee, report = self._resolve(namespace, address, out.wants)
        for caller in out.callers:
            if callee is not None and callee != caller:
                out.edges.setdefault((caller, callee), set()).add(evidence)
            elif callee is None and report and not evidence.weak:
                # A weak entry (a catalog's, an unread key's) may never be read by this caller.
                out.unresolved.add(Unresolved(caller, address.text, evidence))

    def _service_contribution(self, service: ServiceFacts) -> _Contribution:
        out = _Contribution(callers=(f"{service.namespace}/{service.name}",))
        obj = f"{service.namespace}/service/{service.name}"
        evidence = Evidence("annotation", obj, "alertagent.io/dependencies")
        for ref in service.dependencies:
            text = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            self._add(out, service.namespace, Address(text, (ref,), certain=True), evidence)
        if service.external_name:
            # A client of an ExternalName Service reaches what it names, an absolute DNS name: only the
            # `.svc` forms name an in-cluster Service (its dependency); anything else is external.
            for address in parse_addresses(service.external_name):
                if address.certain:
                    self._add(out, service.namespace, address, Evidence("externalName", obj, service.external_name))
        return out

    def _ingress_contribution(self, ingress: IngressFacts) -> _Contribution:
        out = _Contribution(callers=(f"{ingress.namespace}/ingress/{ingress.name}",))
        evidence = Evidence("ingress", f"{ingress.namespace}/ingress/{ingress.name}")
        for backend in ingress.backends:
            self._add(out, ingress.namespace, Address(backend, (ServiceRef(backend, None),), True), evidence)
        return out

    def _configmap_contribution(self, configmap: ConfigMapFacts) -> _Contribution:
        namespace = configmap.namespace
        out = _Contribution(wants={(namespace, app) for app in configmap.apps})
        out.callers = tuple(f"{namespace}/{app}" for app in configmap.apps if self._live(namespace, app))
        obj = f"{namespace}/configmap/{configmap.name}"
        for key, addresses in configmap.addresses:
            for address in addresses:
                self._add(out, namespace, address, Evidence("configmap", obj, key))
        return out

    def _workload_contribution(self, workload: WorkloadFacts) -> _Contribution:
        namespace = workload.namespace
        labels = dict(workload.pod_labels)
        selecting = sorted(
            name
            for name in self._services_in.get(namespace, ())
            if (s := self.services[namespace, name]).selects(labels) and not s.ignored
        )
        out = _Contribution(callers=tuple(f"{namespace}/{name}" for name in selecting) or (workload.id,))
        for found in workload.found:
            self._add(out, namespace, found.address, found.evidence)
        keys_read: dict[str, set[str]] = {}  # ConfigMap → the keys read one at a time
        for use in workload.uses:
            if use.type == "env":
                keys_read.setdefault(use.configmap, set()).add(use.key)
        for use in workload.uses:
            configmap = self.configmaps.get((namespace, use.configmap))
            if configmap is None:
                continue
            via = f"{namespace}/configmap/{use.configmap}"
            catalog = (namespace, use.configmap) in self._catalogs
            named = keys_read.get(use.configmap, set())
            for key, addresses in configmap.addresses:
                if (use.type == "env" and key != use.key) or (use.keys and key not in use.keys):
                    continue
                if use.type != "env" and key in named:
                    continue  # the named read is the evidence for this key
                name = use.env if use.type == "env" else use.prefix + key
                where = f"{use.container}/{name}" if use.container else key
                weak = "" if use.type == "env" else "catalog" if catalog else "unread-key" if named else ""
                for address in addresses:
                    evidence = Evidence(use.type, workload.id, where, via, role_of(name, address), weak)
                    self._add(out, namespace, address, evidence)
        return out

    # --- the view --------------------------------------------------------------------------------

    def _pods_and_roles(self) -> tuple[dict[str, list[Pods]], set[str]]:
        """Each node's pod sets (a Service's: the workloads it selects), and the telemetry nodes."""
        pods: dict[str, list[Pods]] = {}
        telemetry: set[str] = set()
        for (namespace, kind, name), workload in self.workloads.items():
            contribution = self._contributions.get(("workload", namespace, kind, name))
            for caller in contribution.callers if contribution else ():
                pods.setdefault(caller, []).append(Pods(namespace, workload.pod_labels))
                if workload.telemetry:
                    telemetry.add(caller)
        # A node two or more callers send telemetry to is a collector, whatever its image.
        senders: dict[str, set[str]] = {}
        for (caller, callee), by_source in self._edges.items():
            if any(e.role == TELEMETRY for evidence in by_source.values() for e in evidence):
                senders.setdefault(callee, set()).add(caller)
        telemetry |= {node for node, callers in senders.items() if len(callers) >= 2}
        for (namespace, kind, name), workload in self.workloads.items():
            if workload.telemetry is False and workload.explicit_role:
                contribution = self._contributions.get(("workload", namespace, kind, name))
                telemetry -= set(contribution.callers if contribution else ())
        for service in self.services.values():
            if service.telemetry is not None:
                node_id = f"{service.namespace}/{service.name}"
                (telemetry.add if service.telemetry else telemetry.discard)(node_id)
        return pods, telemetry

    def snapshot(self, selection: EdgeSelection | None = None) -> Graph:
        """The graph now; `selection` picks the edges cycles and reachability use (default: see
        confidence.py)."""
        pods, telemetry = self._pods_and_roles()
        nodes = [
            Node(
                f"{s.namespace}/{s.name}",
                "service",
                s.namespace,
                s.name,
                s.tier,
                s.criticality,
                s.team,
                s.sla,
                TELEMETRY if f"{s.namespace}/{s.name}" in telemetry else None,
                s.external_name,
            )
            for s in self.services.values()
            if not s.ignored
        ]
        nodes += [
            Node(f"{i.namespace}/ingress/{i.name}", "ingress", i.namespace, i.name) for i in self.ingresses.values()
        ]
        for (namespace, kind, name), workload in self.workloads.items():
            contribution = self._contributions.get(("workload", namespace, kind, name))
            if contribution is not None and contribution.callers == (workload.id,):
                nodes.append(Node(workload.id, kind, namespace, name, role=TELEMETRY if workload.telemetry else None))
        namespaces = {n: dict(f.labels) for n, f in self.namespaces.items()}
        policies = PolicyView(self.network_policies.values(), namespaces, pods)
        consumers = _catalog_consumers(self)
        edges: list[Edge] = []
        dropped: list[Edge] = []
        for (caller, callee), by_source in self._edges.items():
            evidence = _merged(by_source.values())
            # A catalog lists its own consumers: one consumer's entry is no edge to another (a sibling)
            # by that evidence alone; a NetworkPolicy naming the path still makes it one.
            sibling = all(e.weak == "catalog" and callee in consumers.get(e.via, ()) for e in evidence)
            verdict, deciding = "", tuple[str, ...]()
            if policies:
                found = policies.path_verdict(pods.get(caller, ()), pods.get(callee, ()))
                verdict, deciding = found.verdict, found.policies
                if verdict == "allowed":
                    evidence = evidence | {Evidence("networkpolicy", p) for p in deciding}
            cls = edge_class(evidence, caller in telemetry, callee in telemetry)
            edge = Edge(caller, callee, tuple(sorted(evidence)), cls, verdict, deciding)
            (dropped if sibling and verdict != "allowed" else edges).append(edge)
        unresolved = [u for c in self._contributions.values() for u in c.unresolved]
        return Graph.build(nodes, edges, unresolved, selection or EdgeSelection(), dropped)


def _catalog_consumers(graph: ServiceGraph) -> dict[str, set[str]]:
    """Each catalog ConfigMap (by evidence `via` id) → the nodes whose workloads consume it."""
    consumers: dict[str, set[str]] = {}
    for namespace, name in graph._catalogs:
        found = consumers.setdefault(f"{namespace}/configmap/{name}", set())
        for user in graph._configmap_users.get((namespace, name), ()):
            contribution = graph._contributions.get(("workload", *user))
            found.update(contribution.callers if contribution else ())
    return consumers


def _keep(
    table: dict[Any, Any], members_in: dict[str, set[Any]], key: tuple[str, ...], member: Any, facts: Facts | None
) -> None:
    """Store (or, for None, drop) an object's facts, and its member entry in the per-namespace index."""
    if facts is None:
        table.pop(key, None)
        members_in.get(key[0], set()).discard(member)
    else:
        table[key] = facts
        members_in.setdefault(key[0], set()).add(member)


def _merged(evidence: Iterable[frozenset[Evidence]]) -> frozenset[Evidence]:
    sets = list(evidence)
    return sets[0] if len(sets) == 1 else frozenset().union(*sets)  # most edges have one source


_LOAD_ORDER = (NamespaceFacts, ServiceFacts, NetworkPolicyFacts, ConfigMapFacts, IngressFacts, WorkloadFacts)


def extract(obj: Mapping[str, Any]) -> Facts | None:
    """The facts of a Service, Ingress, ConfigMap, workload (a ReplicaSet or Job only when no controller
    owns it), NetworkPolicy or Namespace; None for anything else."""
    kind = obj.get("kind")
    if kind == "NetworkPolicy":
        return network_policy_facts(obj)
    if kind == "Namespace":
        return namespace_facts(obj)
    if owned(obj):
        return None
    if kind == "Service":
        return service_facts(obj)
    if kind == "Ingress":
        return ingress_facts(obj)
    if kind == "ConfigMap":
        return configmap_facts(obj)
    if kind in WORKLOAD_KINDS:
        return workload_facts(obj)
    return None
