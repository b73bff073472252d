#!/usr/bin/env bash
# The README's main job until `weftctl cluster create` exists: generate a KubeSpan cluster's configs,
# start one weftd on loopback with its own state directory, and show its KubeSpan identity and
# resources with weftctl. Everything lives in a temporary directory and the daemon is stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${WEFT_BIN:-$root/target/release}"
work="$(mktemp -d)"
cleanup() { [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
port=50000
"$bin/weftctl" gen config demo https://127.0.0.1:6443 --with-kubespan \
  --discovery-endpoint http://127.0.0.1:3000 \
  --config-patch "{machine: {api: {listenAddress: '127.0.0.1:$port'}, stateDir: '$work/state'}}" -o .
export WEFTCONFIG="$work/weftconfig"
"$bin/weftd" --config controlplane.yaml 2>weftd.log &
pid=$!
for _ in $(seq 100); do
  "$bin/weftctl" -n "127.0.0.1:$port" get identities >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat weftd.log; exit 1; }
  sleep 0.1
done
set -x
"$bin/weftctl" -n "127.0.0.1:$port" get identities
"$bin/weftctl" -n "127.0.0.1:$port" get kubespanidentities -o yaml
"$bin/weftctl" -n "127.0.0.1:$port" get rd
