#!/usr/bin/env bash
# Build the local Debian base images the project's containers start from.
#
#   scripts/build-images.sh [SUITE...]     (default: bullseye bookworm trixie)
#
# No registry can be pulled from, so each image is made with debootstrap from Debian's
# mirror and `docker import`ed as mi-harden/debian:SUITE. The image is labelled with a hash
# of its recipe (this script + the suite name); it is rebuilt only when that hash changes,
# so a second run costs a `docker image inspect` per suite.
#
# What the images carry is what Molecule, testinfra and the roles' first tasks need:
# systemd as PID 1, python3 (+ python3-apt for the apt module), sudo, kmod (modprobe -n),
# iproute2, procps, ca-certificates. Everything else is installed by the roles themselves.
set -euo pipefail

MIRROR=${MI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,kmod,iproute2,procps,ca-certificates,apt-utils,less"
WORK=${MI_IMAGE_WORKDIR:-/var/tmp/mi-harden-images}
here=$(cd "$(dirname "$0")" && pwd)

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bullseye bookworm trixie)

recipe_hash() {
  { cat "$here/build-images.sh"; echo "$1"; } | sha256sum | cut -c1-16
}

build_one() {
  local suite=$1 image=mi-harden/debian:$1 want have root start
  want=$(recipe_hash "$suite")
  have=$(docker image inspect -f '{{ index .Config.Labels "mi-harden.recipe" }}' "$image" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    echo "image $image is current (recipe $want)"
    return 0
  fi
  start=$(date +%s)
  root="$WORK/$suite"
  rm -rf "$root"
  mkdir -p "$WORK"
  echo "building $image (recipe $want) with debootstrap from $MIRROR"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$MIRROR" \
    >"$WORK/$suite.log" 2>&1 || { tail -20 "$WORK/$suite.log"; return 1; }

  # Container-friendly systemd: no getty, no udev triggers, a machine-id made at first boot.
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  for unit in getty@tty1.service console-getty.service systemd-udev-trigger.service \
              systemd-udevd.service systemd-firstboot.service sys-kernel-debug.mount \
              systemd-remount-fs.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  # apt sources with updates and security, as a real terminal has them.
  local security="$suite-security"
  [ "$suite" = bullseye ] && security="bullseye-security"
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb ${MIRROR%/debian}/debian-security $security main
EOF
  # Small images: no recommends. Package lists are kept, as on a real terminal, so that
  # check mode on a fresh container can tell what would be installed.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$root/etc/apt/apt.conf.d/90mi-harden-norecommends"
  chroot "$root" apt-get update -qq >>"$WORK/$suite.log" 2>&1 || { tail -20 "$WORK/$suite.log"; return 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
  # systemd >= 256 (trixie) refuses a cgroup v1 host unless forced; it reads PID 1's argv
  # as its kernel command line inside a container.
  tar -C "$root" -c . | docker import \
    --change 'CMD ["/sbin/init", "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"]' \
    --change "LABEL mi-harden.recipe=$want" \
    --change "LABEL mi-harden.suite=$suite" \
    --change 'ENV container=docker' \
    - "$image" >/dev/null
  rm -rf "$root"
  echo "built $image in $(( $(date +%s) - start )) s"
}

pids=()
for s in "${suites[@]}"; do
  build_one "$s" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
