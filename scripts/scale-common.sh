# Shared by scripts/scale.sh, scale-live.sh and scale-wal.sh (sourced, not run):
# checks that a real etcd 3.4 is installed and that GNU time is there.
# $SCRIPT names the calling script in messages.

for bin in etcd etcdctl; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "$SCRIPT: $bin not found: apt-get install etcd-server etcd-client" >&2
        exit 1
    fi
done
if [ ! -x /usr/bin/time ]; then
    echo "$SCRIPT: /usr/bin/time missing; installing GNU time with apt-get" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y time >&2
fi
