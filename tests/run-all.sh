#!/usr/bin/env bash
# Sets up and runs every test of oci-copy on a fresh Debian machine: installs the
# independent judges (skopeo, umoci, docker) and the makers of real inputs (podman, buildah,
# used with --storage-driver vfs), the real registry (docker-registry) and the load
# balancer in front of its replicas (nginx, from nginx-light) with apt-get when they are
# missing, and oras-py with pip, then runs `cargo test` (extra arguments go to it) and the
# tests of the `isal` feature (libisal-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in skopeo umoci docker-registry openssl podman buildah; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The signal tests send SIGTERM/SIGINT with kill(1), which is procps's, not bash's builtin.
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || missing+=(procps)
# The terminal test runs oci-copy under a pseudo-terminal with util-linux's script(1).
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
# The balancer tests put nginx in front of two registry replicas; Debian installs it in
# /usr/sbin, which is not on every user's PATH.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# oras-py below needs Python and pip.
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
# Docker judges every docker-archive written and backs the docker-daemon: tests; the image
# they run is built from busybox-static's /bin/busybox.
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
# The `isal` feature (gzip by ISA-L's igzip) links the system's libisal.
dpkg -s libisal-dev >/dev/null 2>&1 || missing+=(libisal-dev)
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Kubernetes Job manifest is judged against the Kubernetes schemas by kubernetes-validate
# (PyPI; it carries the schemas, so it works offline once installed).
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install -q kubernetes-validate ||
    python3 -m pip install -q --break-system-packages kubernetes-validate
fi
# oras-py (the ORAS Python SDK, from PyPI) is the independent client of the referrers tests.
if ! python3 -c 'import oras.provider' >/dev/null 2>&1; then
  echo "installing oras (oras-py) with pip" >&2
  # Debian's own Python refuses a pip install into the system without the flag.
  python3 -m pip install -q oras || python3 -m pip install -q --break-system-packages oras
fi
# A machine whose Docker Engine is not running gets one started for the tests.
if ! docker version >/dev/null 2>&1; then
  echo "starting dockerd (log: ${TMPDIR:-/tmp}/oci-copy-dockerd.log)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo dockerd >"${TMPDIR:-/tmp}/oci-copy-dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
fi

cargo test "$@"

# The `isal` build: its ABI against the system header (tests/abi/isal.c stops at a
# mismatch), the unit tests, and the gzip layers judged by Go, zlib and umoci.
cc -fsyntax-only tests/abi/isal.c
cargo test --features isal --lib
cargo test --features isal --test integration gzip_members
