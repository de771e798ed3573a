#!/usr/bin/env bash
# Installs the Debian 12 packages banger builds and runs with (as root; a
# no-op when everything is there). --no-install-recommends keeps QEMU from
# pulling in GTK and 190 other packages.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config git ccache
  libcaf-dev libsimdjson-dev libsqlite3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  # OCI layers: tar + gzip/zstd reading (services/rootfs_builder)
  libarchive-dev
  # VMs
  qemu-system-x86 qemu-utils
  # default kernel and image (scripts/build-kernel.sh, build-image.sh)
  apt dpkg kmod xz-utils cpio binutils e2fsprogs libc-bin busybox-static
  dropbear-bin zstd patchelf
  # the Debian image (scripts/build-debian-image.sh)
  debootstrap
  # banger-helper: rtnetlink and nftables
  libnl-route-3-dev libnftables-dev nftables
  # tests: network namespaces, ssh client
  iproute2 openssh-client procps python3
  # tests: OCI registry (a real registry on loopback, loaded by skopeo)
  docker-registry skopeo
  # OCI pulls over https
  libcpp-httplib-dev libssl-dev
  # fuzz tests (test/fuzz, scripts/fuzz.sh): clang with libFuzzer
  clang libclang-rt-14-dev
  # system install tests: systemd-analyze verify, systemd-tmpfiles, systemctl
  # --root (the host's PID 1 need not be systemd), setpriv
  systemd util-linux
  # catalog bundles (scripts/make-bundle.sh): GNU tar --sparse, zstd, python3
  # for the JSON
  tar zstd python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
# The kernel builder asks apt which linux-image-amd64 is current: it needs
# package lists even when every package above is installed.
need_lists=0
apt-cache show linux-image-amd64 >/dev/null 2>&1 || need_lists=1
if [[ ${#missing[@]} -eq 0 && $need_lists -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages or package lists: ${missing[*]:-apt lists}" >&2
  echo "deps: run as root (sudo $0) to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "deps: installing ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
