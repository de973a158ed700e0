"""A real local stack, shared by the tests and `alertagent demo`: etcd, kube-apiserver and
kube-controller-manager (`controlplane`), Prometheus, Alertmanager and vmalert (`monitoring`), the
operator and its sidecars (`agents`), local notification receivers (`receivers`), all as processes on
free loopback ports (`processes`), with generated certificates (`certs`).

The binaries come from `setup.sh` (Debian packages, and the Go-built Kubernetes binaries of
`build-binaries.sh`, cached in ~/.cache/alertagent). Nothing here imports the operator's wiring: the
operator and the sidecars run as the user runs them, from the console scripts.
"""
