#!/usr/bin/env bash
# Installs what Bosun needs from the system, idempotently: redis-server and git always;
# docker.io, debootstrap, docker-registry, iptables and dnsmasq-base when BOSUN_WITH_DOCKER=1 (tests and
# the container executors), with what the publishing tests use (openssl, apache2-utils, twine, Python's
# setuptools, wheel and pip), and the AWS CLI for the S3 artifact store's tests.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v git >/dev/null || need+=(git)
if [[ "${BOSUN_WITH_DOCKER:-0}" == 1 ]]; then
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [[ -x /usr/bin/docker-registry ]] || need+=(docker-registry)
  command -v ip >/dev/null || need+=(iproute2)
  # The Prometheus client's text parser: test/integrations checks /metrics with it.
  /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client)
  # A real pytest writing JUnit XML: test/artifacts/test-reports.test.ts (`reports:`).
  /usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
  # Egress rules (iptables beside dockerd) and the egress tests' DNS server (dnsmasq, the binary only).
  command -v iptables-restore >/dev/null || need+=(iptables)
  command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
  # Publishing tests (docs/publish.md): the registry's TLS and htpasswd, the real twine and pip
  # that pin the local index, and Debian's setuptools/wheel to build a release offline.
  command -v openssl >/dev/null || need+=(openssl)
  command -v htpasswd >/dev/null || need+=(apache2-utils)
  command -v twine >/dev/null || need+=(twine)
  /usr/bin/python3 -c 'import setuptools, wheel' 2>/dev/null || need+=(python3-setuptools python3-wheel)
  /usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
  # The browser tests (sign-in, the web console) drive the distribution's Chromium with playwright-core.
  [[ -x /usr/bin/chromium ]] || need+=(chromium)
  # A real S3 client pinning the test S3 server (test/artifacts/s3-artifact-store.test.ts).
  [[ -x /usr/bin/aws ]] || need+=(awscli)
fi

if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "bosun: missing system packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "bosun: installing ${need[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Keep the distribution's own redis service out of the way: Bosun and its tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
