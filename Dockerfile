# AlertAgent: one image for the operator, its sidecar and the gateway.
#   operator: alertagent run            (the default command)
#   sidecar:  alertagent-sidecar ...     (override the entry point: command: [alertagent-sidecar])
#   gateway:  alertagent gateway ...
# Build: docker build -t alertagent:0.1.0 .
# Checked by tests/unit/test_dockerfile.py (hadolint, the files it copies, the entry points, the pins).

# Python 3.11 on Debian 12 (bookworm), pinned by version and by the digest of its multi-architecture
# index (amd64, arm64). Every stage starts from it, so the venv's interpreter and the Debian tools'
# glibc are the ones the final stage runs them with.
FROM python:3.11.15-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba AS base
# OCI labels, inherited by every stage; the version is pyproject.toml's (the test compares them).
LABEL org.opencontainers.image.title="AlertAgent" \
      org.opencontainers.image.description="Kubernetes-native alerting operator (entry points: alertagent, alertagent-sidecar; alertagent gateway)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="AlertAgent" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.15-slim-bookworm" \
      org.opencontainers.image.base.digest="sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba"

# --- build: a wheel of the project, installed with its dependencies into a venv ---------------------
FROM base AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# README.md: pyproject.toml names it as the package's long description.
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY sidecar/ sidecar/
# The venv has no pip of its own (the base image's pip installs into it); the wheel is named by path so
# no index can substitute another "alertagent". [broker]: Redis for `alertagent gateway --store redis`.
# The read-ahead's list of the files `alertagent run` imports is written again for the releases
# installed here (common/readahead.py).
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/alertagent \
 && set -- /wheels/alertagent-*.whl \
 && python -m pip --python /opt/alertagent/bin/python install "$1[broker]" \
 && /opt/alertagent/bin/alertagent --help >/dev/null \
 && /opt/alertagent/bin/alertagent-sidecar --help >/dev/null \
 && manifest="$(/opt/alertagent/bin/python -c 'from alertagent.common.readahead import MANIFEST; print(MANIFEST)')" \
 && /opt/alertagent/bin/python -m alertagent.common.readahead > /tmp/startup_modules.txt \
 && mv /tmp/startup_modules.txt "$manifest"

# --- tools: promtool and amtool from Debian bookworm, the operator's validation safety net ---------
# The packages are downloaded and unpacked, not installed: only the two binaries are kept (they link
# to glibc alone), and no maintainer script runs. Versions: Debian 12's; 2.42.0 is also the promtool
# the Go template checks are compared against (operator/alertagent/render/gotemplate).
FROM base AS tools
ARG PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
ARG ALERTMANAGER_DEB_VERSION=0.25.0-1+b4
WORKDIR /debs
RUN apt-get update \
 && apt-get download "prometheus=${PROMETHEUS_DEB_VERSION}" "prometheus-alertmanager=${ALERTMANAGER_DEB_VERSION}" \
 && dpkg-deb --extract prometheus_*.deb /tools \
 && dpkg-deb --extract prometheus-alertmanager_*.deb /tools \
 && rm -rf /var/lib/apt/lists/* /debs/*.deb \
 && /tools/usr/bin/promtool --version \
 && /tools/usr/bin/amtool --version

# --- rulecheck: the operator's long-lived `promtool check rules` (operator/rulecheck), built by Debian
# 12's Go. Its go.mod pins the Prometheus module of the promtool above (v0.42.0 is 2.42.0): one rule
# parser, whichever of the two checks a file. It links nothing (CGO off) and prints its version at start.
# The modules come from GOPROXY (a build argument, for a mirror); they are downloaded in a layer of
# their own, so an edit of main.go rebuilds only the last one.
FROM base AS rulecheck
ARG GOLANG_DEB_VERSION=1.19.8-2
ARG GOPROXY=https://proxy.golang.org,direct
RUN apt-get update \
 && apt-get install -y --no-install-recommends "golang-1.19-go=${GOLANG_DEB_VERSION}" \
 && rm -rf /var/lib/apt/lists/*
ENV PATH="/usr/lib/go-1.19/bin:${PATH}" \
    CGO_ENABLED=0 \
    GOTOOLCHAIN=local
WORKDIR /src
COPY operator/rulecheck/go.mod operator/rulecheck/go.sum ./
COPY operator/rulecheck/sigv4/ sigv4/
RUN go mod download
COPY operator/rulecheck/main.go ./
RUN go build -trimpath -ldflags "-s -w" -o /out/alertagent-rulecheck . \
 && /out/alertagent-rulecheck </dev/null

# --- runtime -------------------------------------------------------------------------------------
FROM base AS runtime

# A named account for the numeric user the chart runs as (runAsUser: 65532); its home is /tmp, the one
# writable place under readOnlyRootFilesystem (an emptyDir there in Kubernetes).
RUN groupadd --system --gid 65532 alertagent \
 && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin alertagent

COPY --from=build /opt/alertagent /opt/alertagent
# The operator finds both on PATH (shutil.which); /usr/bin is where Debian puts them.
COPY --from=tools /tools/usr/bin/promtool /tools/usr/bin/amtool /usr/bin/
# Found on PATH (clients/rulecheck_process.py); promtool is what it falls back to. Both are built by
# Go 1.19.8 (Debian 12's), which the operator checks at its first rule check (clients/rulecheck.py).
COPY --from=rulecheck /out/alertagent-rulecheck /opt/alertagent/bin/

# Nothing is written at run time outside /tmp: bytecode was compiled at install, and temporary files
# (amtool's and promtool's inputs, the Kubernetes client's certificate files) go to TMPDIR.
ENV PATH="/opt/alertagent/bin:${PATH}" \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 65532:65532
WORKDIR /tmp
# The image works as the user it runs as.
RUN alertagent --help >/dev/null \
 && alertagent-sidecar --help >/dev/null \
 && promtool --version \
 && checker="$(alertagent-rulecheck </dev/null)" \
 && promtool_version="$(promtool --version 2>&1)" \
 && promtool_version="${promtool_version#promtool, version }" \
 && promtool_version="${promtool_version%% *}" \
 && case "$checker" in *"\"version\":\"${promtool_version%%+*}\""*) ;; *) exit 1 ;; esac \
 && amtool --version

# Operator: 8080 /healthz, /readyz and the graph API; 8081 metrics. Sidecar: 8082. Gateway: 8083.
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["alertagent"]
CMD ["run"]
