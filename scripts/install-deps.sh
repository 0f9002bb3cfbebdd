#!/usr/bin/env bash
# Installs the Debian 12 packages sidecore needs, and only those missing.
#   install-deps.sh run    build the daemon and tools, run the demo
#                          (qemu-system-common holds qemu-storage-daemon,
#                          util-linux holds taskset)
#   install-deps.sh test   also everything `make check` uses: cmocka, QEMU
#                          for the Linux-guest tests, busybox-static and cpio
#                          for the guest's initramfs, jq for test scripts
#                          dpdk + dpdk-dev (dpdk-testpmd: virtio-user and
#                          vhost PMDs) for the net interop tests, socat
#                          for QEMU's monitor socket (migration test)
# The guest's kernel is not installed: scripts/guest/build-guest.sh fetches
# it with `apt-get download`, which needs the package lists this script
# refreshes whenever it installs anything.
# Installing needs root; when nothing is missing, nothing is asked for.
set -euo pipefail

RUN_PKGS="build-essential cmake pkg-config liburing-dev libjansson-dev libssl-dev libisal-dev qemu-system-common util-linux"
TEST_PKGS="$RUN_PKGS libcmocka-dev qemu-system-x86 qemu-utils busybox-static cpio gzip jq dpdk dpdk-dev iproute2 socat iputils-ping"

case ${1:-} in
    run) want=$RUN_PKGS ;;
    test) want=$TEST_PKGS ;;
    *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

command -v dpkg-query >/dev/null || { echo "install-deps: dpkg-query not found; this script is for Debian 12" >&2; exit 1; }

missing=
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# The guest kernel download resolves linux-image-amd64 from the package
# lists, which a fresh image may not have even when nothing is missing.
need_lists=0
if [ "$1" = test ] && ! apt-cache depends linux-image-amd64 2>/dev/null | grep -q "Depends: linux-image-"; then
    need_lists=1
fi

if [ -z "$missing" ] && [ "$need_lists" -eq 0 ]; then
    echo "install-deps: all packages for '$1' are installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    [ -n "$missing" ] && echo "install-deps: must run as root to install:$missing" >&2
    [ "$need_lists" -eq 1 ] && echo "install-deps: must run as root to run apt-get update (package lists are missing)" >&2
    exit 1
fi
apt-get update
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
