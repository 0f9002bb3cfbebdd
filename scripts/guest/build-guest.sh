#!/usr/bin/env bash
# Builds a small Linux guest for QEMU without installing a kernel on the host:
# the Debian kernel package is downloaded and unpacked in a scratch dir, and
# only vmlinuz and the virtio modules (blk and net) are kept. The initramfs
# holds busybox-static (which brings ip, ping and nc), those modules, /init,
# the guest test scripts from scripts/guest/tests/, and the programs in
# scripts/guest/progs/ (C, linked statically); /init runs /tests/NAME.sh
# for `sc.test=NAME` on the kernel command line and powers off.
#
# Output: OUT_DIR/vmlinuz and OUT_DIR/initrd.gz. Idempotent and quick the
# second time: the kernel is downloaded only when OUT_DIR has none, and the
# initramfs is rebuilt only when /init, a test script, a guest program or
# this script is newer than it. Needs `apt-get update` done once (install-deps does it).
set -euo pipefail

usage() { echo "usage: $0 OUT_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
SELF=$HERE/$(basename "$0")
BUSYBOX=/bin/busybox
# Load order matters: the package ships no modules.dep to resolve it.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
         failover net_failover virtio_net"

die() { echo "build-guest: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb cpio gzip cc; do
    command -v "$tool" >/dev/null || die "$tool is missing (run: scripts/install-deps.sh test)"
done
# grep reads the whole list: with -q it could exit first and, under
# pipefail, busybox's SIGPIPE would fail the check.
{ [ -x "$BUSYBOX" ] && "$BUSYBOX" --list | grep -x insmod >/dev/null; } ||
    die "$BUSYBOX with insmod is missing (run: scripts/install-deps.sh test)"
! ldd "$BUSYBOX" >/dev/null 2>&1 ||
    die "$BUSYBOX is dynamically linked; the guest needs busybox-static"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# busybox insmod cannot decompress, so compressed modules are expanded here.
copy_module() {
    local src=$1 dst=$2 tool
    case $src in
        *.ko.xz) tool=xz ;;
        *.ko.zst) tool=zstd ;;
        *) tool='cp' ;;
    esac
    command -v "$tool" >/dev/null || die "$src is compressed and $tool is not installed (apt-get install xz-utils zstd)"
    case $src in
        *.ko) cp "$src" "$dst" ;;
        *.ko.xz) xz -dc "$src" >"$dst" ;;
        *.ko.zst) zstd -qdc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
        *) die "unknown module format: $src" ;;
    esac
}

# The kernel: the version linux-image-amd64 depends on.
fetch_kernel() {
    local pkg deb scratch moddir m src
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ {print $2; exit}')
    [ -n "$pkg" ] || die "cannot resolve the kernel package of linux-image-amd64 (run apt-get update first)"
    echo "build-guest: downloading $pkg"
    scratch=$(mktemp -d "$OUT/fetch.XXXXXX")
    (cd "$scratch" && apt-get download "$pkg") >"$scratch/apt.log" 2>&1 ||
        { cat "$scratch/apt.log" >&2; rm -rf "$scratch"; die "apt-get download $pkg failed"; }
    deb=$(ls "$scratch"/*.deb)
    dpkg-deb -x "$deb" "$scratch/x"
    src=$(find "$scratch/x/boot" -name 'vmlinuz-*' | head -n1)
    [ -n "$src" ] || { rm -rf "$scratch"; die "no vmlinuz in $deb"; }
    moddir=$scratch/x/lib/modules/${src##*/vmlinuz-}/kernel
    rm -rf "$OUT/modules"
    mkdir -p "$OUT/modules"
    for m in $MODULES; do
        src=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.*" | head -n1)
        [ -n "$src" ] || { rm -rf "$scratch"; die "module $m not found in $deb"; }
        copy_module "$src" "$OUT/modules/$m.ko"
    done
    cp "$scratch"/x/boot/vmlinuz-* "$OUT/vmlinuz.tmp"
    echo "$pkg" >"$OUT/kernel-package"
    rm -rf "$scratch"
    # vmlinuz last: its presence marks a complete download.
    mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
}

have_kernel() {
    local m
    [ -f "$OUT/vmlinuz" ] || return 1
    for m in $MODULES; do [ -f "$OUT/modules/$m.ko" ] || return 1; done
}
have_kernel || fetch_kernel

initrd=$OUT/initrd.gz
if [ -f "$initrd" ]; then
    stale=0
    for f in "$HERE/init" "$HERE"/tests/*.sh "$HERE"/progs/*.c "$SELF" "$OUT/vmlinuz"; do
        [ "$f" -nt "$initrd" ] && stale=1
    done
    if [ "$stale" -eq 0 ]; then
        echo "build-guest: $OUT/vmlinuz and $initrd are up to date"
        exit 0
    fi
fi

root=$(mktemp -d "$OUT/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,lib/modules,tests}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cp "$OUT"/modules/*.ko "$root/lib/modules/"
echo "$MODULES" >"$root/lib/modules/order"
install -m 0755 "$HERE/init" "$root/init"
install -m 0755 "$HERE"/tests/*.sh "$root/tests/"
# Guest programs the tests need beyond busybox, static: the guest has no libc.
for src in "$HERE"/progs/*.c; do
    cc -static -O2 -s -std=gnu11 -Wall -Wextra -Werror -o "$root/bin/$(basename "$src" .c)" "$src" ||
        die "compiling $src for the guest failed"
done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$initrd.tmp"
mv "$initrd.tmp" "$initrd"
echo "build-guest: built $initrd ($(du -k "$initrd" | cut -f1) KiB) with $(cat "$OUT/kernel-package")"
