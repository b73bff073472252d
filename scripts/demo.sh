#!/usr/bin/env bash
# One node without root: generate a KubeSpan cluster's configs, start one weftd on loopback with its
# own state directory, and show its identities and resource types with weftctl. Everything lives
# in a temporary directory and the daemon is stopped on exit. For a mesh, see
# `weftctl cluster create` (README, "The local mesh").
#
# WEFT_BIN: the directory holding weftctl and weftd (default: target/release, else target/debug).
# Caution: weftd with KubeSpan enabled changes this host's networking (a WireGuard link, an nftables
# table, routing rules); `cluster create` keeps all of that inside network namespaces.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${WEFT_BIN:-}" ]]; then
  bin="$WEFT_BIN"
elif [[ -x "$root/target/release/weftd" ]]; then
  bin="$root/target/release"
else
  bin="$root/target/debug"
fi
for b in weftctl weftd; do
  [[ -x "$bin/$b" ]] || { echo "demo.sh: no $b in $bin: run cargo build --release, or set WEFT_BIN to the directory holding it" >&2; exit 1; }
done
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
