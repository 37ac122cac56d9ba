# shellcheck shell=bash
# Shared helpers for tests/cluster/* scripts. Source it; do not execute.

CLUSTER_SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SRC_DIR/../.." && pwd)"
# shellcheck source=versions.env
. "$CLUSTER_SRC_DIR/versions.env"

CACHE_ROOT="${DIAGNOSTIC_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/diagnostic-operator}"
STATE_DIR="${DIAGNOSTIC_OPERATOR_CLUSTER_DIR:-/tmp/diagnostic-operator-cluster}"
BIN_KEY="k8s-${KUBERNETES_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
BIN_DIR="$CACHE_ROOT/bin/$BIN_KEY"

# Network identity of the cluster. All addresses are on this machine only.
NODE_NAME="${DIAGNOSTIC_OPERATOR_NODE_NAME:-do-real-node}"
DUMMY_IF="${DIAGNOSTIC_OPERATOR_DUMMY_IF:-do-node0}"          # dummy interface carrying the node IP
NODE_IP="${DIAGNOSTIC_OPERATOR_NODE_IP:-10.213.0.1}"          # /32 on the dummy interface
BRIDGE_IF="${DIAGNOSTIC_OPERATOR_BRIDGE_IF:-do-cni0}"         # CNI bridge
POD_CIDR="${DIAGNOSTIC_OPERATOR_POD_CIDR:-10.214.0.0/24}"     # host-local IPAM range for real-node pods
KWOK_NODE_IP="${DIAGNOSTIC_OPERATOR_KWOK_NODE_IP:-10.213.0.2}" # InternalIP of kwok nodes: local, nothing listens
KWOK_POD_CIDR="${DIAGNOSTIC_OPERATOR_KWOK_POD_CIDR:-10.215.0.0/16}" # fake Pod IPs; routed "unreachable" locally
SERVICE_CIDR="10.0.0.0/24"
APISERVER_PORT="${DIAGNOSTIC_OPERATOR_APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT="${DIAGNOSTIC_OPERATOR_ETCD_PORT:-2379}"
ETCD_PEER_PORT="$((ETCD_CLIENT_PORT + 1))"
KUBELET_PORT=10250
KWOK_NODES="${DIAGNOSTIC_OPERATOR_KWOK_NODES:-2}"
NODE_TAINT_KEY="diagnostic-operator.io/test-node"

_ms() { date +%s%3N; }
_secs() { local d="$1"; printf '%d.%d' "$((d / 1000))" "$(((d % 1000) / 100))"; }
_LOG_T0="${_LOG_T0:-$(_ms)}"
export _LOG_T0
log() {
    printf '[%s %6ss] %s\n' "${LOG_PREFIX:-cluster}" "$(_secs $(($(_ms) - _LOG_T0)))" "$*" >&2
}
die() { log "ERROR: $*"; exit 1; }

# step NAME CMD...: run a command and report how long it took.
step() {
    local name="$1"; shift
    local t0; t0="$(_ms)"
    log "$name ..."
    "$@"
    log "$name done ($(_secs $(($(_ms) - t0)))s)"
}

find_go() {
    if command -v go >/dev/null 2>&1; then command -v go
    elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
    else return 1; fi
}

# wait_until TIMEOUT DESCRIPTION CMD...: poll CMD every 0.5s until it succeeds.
wait_until() {
    local timeout="$1" what="$2"; shift 2
    local deadline=$(( $(date +%s) + timeout ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "timed out after ${timeout}s waiting for: $what"
            return 1
        fi
        sleep 0.5
    done
}

# alive PID: running and not a zombie (our daemons are reparented, and their reaper may be slow).
alive() {
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# pid_alive FILE: the process recorded in FILE is running.
pid_alive() {
    local f="$1" pid
    [ -s "$f" ] || return 1
    pid="$(cat "$f")"
    [ -n "$pid" ] && alive "$pid"
}

# podman_env: write the project's containers.conf into the cache and export the variables podman reads.
podman_env() {
    local dir="$CACHE_ROOT/podman"
    local conf="$dir/containers.conf" tmp="/var/tmp/diagnostic-operator-podman"
    mkdir -p "$dir" "$tmp"
    local want
    want="$(sed -e "s|@TMP_DIR@|$tmp|g" -e "s|@CONTAINERS_CONF@|$conf|g" \
                -e "s|@CONTAINERS_STORAGE_CONF@|$CLUSTER_SRC_DIR/config/storage.conf|g" \
                "$CLUSTER_SRC_DIR/config/containers.conf.in")"
    if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
        printf '%s\n' "$want" > "$conf.tmp.$$" && mv -f "$conf.tmp.$$" "$conf"
    fi
    export CONTAINERS_CONF="$conf" CONTAINERS_STORAGE_CONF="$CLUSTER_SRC_DIR/config/storage.conf" TMPDIR="$tmp"
}
