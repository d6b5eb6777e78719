#!/usr/bin/env bash
# Build the Debian 12 virtual-machine image of the Molecule scenario molecule/vm.
#
#   scripts/build-vm-image.sh            build when missing or when the recipe changed
#   scripts/build-vm-image.sh --print    print the cache directory and exit
#
# Containers share the host's kernel; the VM has its own (USB bus, kernel modules, auditd,
# sysctl). No loop mount is needed: debootstrap makes the root tree in a directory,
# `mkfs.ext4 -d` turns it into a raw disk image, and QEMU boots the tree's own kernel and
# initrd directly (-kernel/-initrd, root=/dev/vda). The scenario never writes the image:
# each run boots a fresh qcow2 overlay on top of it (molecule/vm/create.yml).
#
# Cache (MI_VM_CACHE, default /var/tmp/mi-harden-vm):
#   bookworm.raw, vmlinuz, initrd.img   the image and its boot files
#   id_ed25519{,.pub}                    the test key, authorised for root in the image
#   recipe                               hash of this script; a different hash rebuilds
# QEMU and the tools this needs are installed from Debian when missing.
set -euo pipefail

MIRROR=${MI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${MI_VM_CACHE:-/var/tmp/mi-harden-vm}
SUITE=bookworm
SIZE=6G
# What a terminal's base system has, plus what Ansible and the tests need to reach it,
# plus the IC-card stack of a terminal with a card reader (pcscd, libccid, pcsc-tools:
# approved by the example allowlist); baked in, as installing it under software emulation
# costs minutes per run.
PACKAGES="systemd,systemd-sysv,dbus,udev,kmod,linux-image-amd64,initramfs-tools,zstd,\
openssh-server,python3,python3-apt,sudo,iproute2,procps,ca-certificates,apt-utils,less,\
pcscd,libccid,pcsc-tools"
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--print" ]; then echo "$CACHE"; exit 0; fi

# Host tools: QEMU (x86 system emulator, qemu-img), debootstrap, mkfs.ext4, ssh-keygen.
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

want=$({ cat "$here/build-vm-image.sh"; echo "$SUITE $SIZE $MIRROR"; } | sha256sum | cut -c1-16)
have=$(cat "$CACHE/recipe" 2>/dev/null || true)
if [ "$have" = "$want" ] && [ -s "$CACHE/$SUITE.raw" ] && [ -s "$CACHE/vmlinuz" ] \
   && [ -s "$CACHE/initrd.img" ] && [ -s "$CACHE/id_ed25519" ]; then
  echo "VM image $CACHE/$SUITE.raw is current (recipe $want)"
  exit 0
fi

# One build at a time (two scenarios or a CI retry may call this together).
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ "$(cat "$CACHE/recipe" 2>/dev/null || true)" = "$want" ] && [ -s "$CACHE/$SUITE.raw" ]; then
  echo "VM image built meanwhile by another run (recipe $want)"
  exit 0
fi

start=$(date +%s)
root="$CACHE/root"
log="$CACHE/build.log"
rm -rf "$root" "$CACHE/recipe"
: >"$log"
echo "building the VM image $CACHE/$SUITE.raw (recipe $want) with debootstrap from $MIRROR"
[ -s "$CACHE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mi-harden-vm-test -f "$CACHE/id_ed25519"

debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >>"$log" 2>&1 \
  || { tail -30 "$log"; exit 1; }

echo mi-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 mi-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$root/etc/fstab"
# A new machine-id at each first boot (every run boots a fresh overlay).
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Network: QEMU user-mode networking, which create.yml puts on 192.168.76.0/24 (DHCP
# 192.168.76.15, controller and gateway 192.168.76.2, DNS 192.168.76.3): inside the lab's
# management networks. The kernel names the interface eth0 (net.ifnames=0), as in the
# lab containers.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/50-qemu.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service \
  "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
rm -f "$root/etc/resolv.conf"
echo 'nameserver 192.168.76.3' >"$root/etc/resolv.conf"

# Root logs in with the test key only (the project's mi_management_user is root).
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$CACHE/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chroot "$root" passwd -l root >>"$log" 2>&1

cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$root/etc/apt/apt.conf.d/90mi-harden-norecommends"
chroot "$root" apt-get update -qq >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/log/*.log

# QEMU boots the kernel and initrd of the cache (-kernel/-initrd), never the guest's own
# /boot, so an initrd a role rebuilds inside the guest (removable_media's blocked drivers)
# is never used, and rebuilding it takes over half an hour under software emulation:
# update-initramfs -u does nothing in this image.
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"

# Boot files, then the disk image made straight from the tree.
cp -L "$root/vmlinuz" "$CACHE/vmlinuz.new"
cp -L "$root/initrd.img" "$CACHE/initrd.img.new"
rm -f "$CACHE/$SUITE.raw.new"
truncate -s "$SIZE" "$CACHE/$SUITE.raw.new"
mkfs.ext4 -q -F -L mi-vm-root -d "$root" "$CACHE/$SUITE.raw.new" >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
for f in "$SUITE.raw" vmlinuz initrd.img; do mv -f "$CACHE/$f.new" "$CACHE/$f"; done
rm -rf "$root"
echo "$want" >"$CACHE/recipe"
echo "built the VM image in $(( $(date +%s) - start )) s ($(du -sh --apparent-size "$CACHE/$SUITE.raw" | cut -f1) sparse, $(du -sh "$CACHE/$SUITE.raw" | cut -f1) used)"
