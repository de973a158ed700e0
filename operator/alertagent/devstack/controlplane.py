"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) as local processes.
The controller manager runs the garbage collector, namespace, service account, Deployment, ReplicaSet
and StatefulSet controllers (so rollouts make real ReplicaSets, ControllerRevisions and Pods); there is
no scheduler or kubelet: Pods stay Pending unless a test writes their status through the status
subresource (a StatefulSet with the default OrderedReady policy waits for each pod to be Running and
Ready before it creates the next or rolls one out).

Binaries come from the cache `build-binaries.sh` fills, or from the environment:
`ALERTAGENT_TESTBED_BIN` (a folder with all of them), `KUBEBUILDER_ASSETS` (envtest's folder), or
one variable per binary (`ETCD`, `KUBE_APISERVER`, `KUBE_CONTROLLER_MANAGER`, `KUBECTL`, `HELM`,
`KUBECONFORM`).
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from ..api.crd import RESOURCES
from .certs import CertificateAuthority, service_account_keys
from .processes import Process, StartupError, free_port, http_ok, start_with_retry

HERE = Path(__file__).resolve().parent
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm", "kubeconform")


@functools.cache
def _built_bin_dir() -> Path:
    out = subprocess.run(["bash", str(HERE / "build-binaries.sh")], check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def binary(name: str) -> str:
    """Path of a test bed binary (see the module docstring for where it is looked up)."""
    env_name = name.upper().replace("-", "_")
    if os.environ.get(env_name):
        return os.environ[env_name]
    for folder_var in ("ALERTAGENT_TESTBED_BIN", "KUBEBUILDER_ASSETS"):
        folder = os.environ.get(folder_var)
        if folder and (Path(folder) / name).exists():
            return str(Path(folder) / name)
    path = _built_bin_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"{name} not found; run operator/alertagent/devstack/setup.sh or set {env_name}")
    return str(path)


@dataclass
class ControlPlane:
    """A running control plane; `kubeconfig` grants cluster-admin (system:masters)."""

    workdir: Path
    url: str
    kubeconfig: Path
    ca_file: Path
    etcd_url: str = ""
    processes: list[Process] = field(default_factory=list)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this control plane; with check, fail with its stderr."""
        result = subprocess.run(
            [binary("kubectl"), f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.workdir / 'kube-cache'}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig that authenticates as a ServiceAccount (a token from the TokenRequest API)."""
        token = self.kubectl("-n", namespace, "create", "token", name, "--duration=2h").stdout.strip()
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"] = [{"name": "admin", "user": {"token": token}}]
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now (what the API server does every few minutes): watches
        from older resourceVersions then get 410 Gone. Returns the compacted revision."""
        header = httpx.post(f"{self.etcd_url}/v3/kv/range", json={"key": "AA=="}, timeout=10).json()["header"]
        revision = int(header["revision"])
        httpx.post(f"{self.etcd_url}/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=30)
        return revision

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again with the same flags (port, certificates, etcd), as a
        rollout or a crash would: every open watch is cut, and clients reconnect to the same URL."""
        index, old = next((i, p) for i, p in enumerate(self.processes) if p.name == "kube-apiserver")
        old.stop()
        ssl_ctx = ssl.create_default_context(cafile=str(self.ca_file))
        certs = self.ca_file.parent
        ssl_ctx.load_cert_chain(certs / "admin.crt", certs / "admin.key")
        new = Process(old.name, old.argv, self.workdir)
        self.processes[index] = new.ready_or_stopped(http_ok(f"{self.url}/readyz", verify=ssl_ctx), 120, "ready")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(60)}" for p in self.processes)


def table(output: str) -> list[dict[str, str]]:
    """Rows of `kubectl get` output as {column header: value}; empty cells become ""."""
    lines = output.splitlines()
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 2 : i] == "  ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[a:b].strip() for a, b in bounds]
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, bounds, strict=True)} for line in lines[1:]]


def _kubeconfig(url: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "testbed", "cluster": {"server": url, "certificate-authority-data": b64(ca_pem)}}],
            "users": [
                {
                    "name": "admin",
                    "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
                }
            ],
            "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin"}}],
            "current-context": "testbed",
        }
    )


def _start_etcd(workdir: Path) -> tuple[Process, str]:
    def start() -> tuple[Process, str]:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        data = workdir / "etcd-data"
        shutil.rmtree(data, ignore_errors=True)
        proc = Process(
            "etcd",
            [
                binary("etcd"),
                f"--data-dir={data}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
            ],
            workdir,
        )
        return proc.ready_or_stopped(http_ok(f"{url}/health"), 60, "healthy"), url

    return start_with_retry(start)


def start_control_plane(
    workdir: Path | None = None, with_controller_manager: bool = True, apiserver_args: tuple[str, ...] = ()
) -> ControlPlane:
    """Start etcd, kube-apiserver and (optionally) kube-controller-manager; wait until ready."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="alertagent-testbed-"))
    certs = workdir / "pki"
    certs.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority("alertagent-testbed-ca")
    ca_file = certs / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    ca.issue("kube-apiserver", dns_names=("localhost",), ips=("127.0.0.1",), server=True).write(certs, "apiserver")
    admin = ca.issue("admin", organizations=("system:masters",))
    sa_pub, sa_key = service_account_keys().write(certs, "sa")

    plane = ControlPlane(workdir=workdir, url="", kubeconfig=workdir / "admin.kubeconfig", ca_file=ca_file)
    try:
        etcd, etcd_url = _start_etcd(workdir)
        plane.etcd_url = etcd_url
        plane.processes.append(etcd)

        ssl_ctx = ssl.create_default_context(cafile=str(ca_file))
        admin_cert, admin_key = admin.write(certs, "admin")
        ssl_ctx.load_cert_chain(admin_cert, admin_key)

        def start_apiserver() -> tuple[Process, str]:
            port = free_port()
            url = f"https://127.0.0.1:{port}"
            proc = Process(
                "kube-apiserver",
                [
                    binary("kube-apiserver"),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    f"--cert-dir={certs}",
                    f"--tls-cert-file={certs / 'apiserver.crt'}",
                    f"--tls-private-key-file={certs / 'apiserver.key'}",
                    f"--client-ca-file={ca_file}",
                    "--authorization-mode=RBAC",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    f"--service-account-issuer={url}/",
                    f"--service-account-key-file={sa_pub}",
                    f"--service-account-signing-key-file={sa_key}",
                    "--allow-privileged=true",
                    *([] if with_controller_manager else ["--disable-admission-plugins=ServiceAccount"]),
                    *apiserver_args,
                ],
                workdir,
            )
            return proc.ready_or_stopped(http_ok(f"{url}/readyz", verify=ssl_ctx), 120, "ready"), url

        apiserver, plane.url = start_with_retry(start_apiserver)
        plane.processes.append(apiserver)
        plane.kubeconfig.write_text(_kubeconfig(plane.url, ca.cert_pem, admin.cert_pem, admin.key_pem))
        # The controller manager runs as admin: the test bed checks AlertAgent's RBAC, not the
        # controller manager's, and its garbage collector needs to read every kind.
        kcm_config = plane.kubeconfig

        if with_controller_manager:

            def start_kcm() -> Process:
                port = free_port()
                proc = Process(
                    "kube-controller-manager",
                    [
                        binary("kube-controller-manager"),
                        f"--kubeconfig={kcm_config}",
                        f"--authentication-kubeconfig={kcm_config}",
                        f"--authorization-kubeconfig={kcm_config}",
                        "--bind-address=127.0.0.1",
                        f"--secure-port={port}",
                        "--leader-elect=false",
                        "--controllers=garbagecollector,namespace,serviceaccount-token,serviceaccount,deployment,replicaset,"
                        "statefulset",
                        f"--service-account-private-key-file={sa_key}",
                        f"--root-ca-file={ca_file}",
                        "--use-service-account-credentials=false",
                    ],
                    workdir,
                )
                return proc.ready_or_stopped(http_ok(f"https://127.0.0.1:{port}/healthz", verify=False), 60, "healthy")

            plane.processes.append(start_with_retry(start_kcm))

        _wait_for_default_namespace(plane)
    except BaseException:
        plane.stop()
        raise
    return plane


def _wait_for_default_namespace(plane: ControlPlane, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if plane.kubectl("get", "namespace", "default", check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise StartupError(f"namespace default never appeared\n{plane.logs()}")


def install_crds(plane: ControlPlane, crds_dir: Path) -> None:
    """Apply the CRDs and wait until the API server serves them."""
    plane.kubectl("apply", "--server-side", "-f", str(crds_dir))
    plane.kubectl("wait", "--for=condition=Established", *[f"crd/{r.names.plural}.alertagent.io" for r in RESOURCES])
