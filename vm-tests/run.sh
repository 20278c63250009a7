#!/usr/bin/env bash
# `npm run vm-test`: installs what the VM tests need, builds the guest, the test OS and the
# disks (cached in ATOMIC_VM_WORK, default /var/tmp/atomic-vm), then boots the scenarios
# with vitest (vm-tests/vitest.config.ts). Extra arguments go to vitest, e.g. `-t rollback`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# QEMU and OVMF to boot; qemu-img (qemu-utils) for the power-cut overlays; GRUB's EFI
# modules; GPT, FAT and ext4 tools to build the image without loop devices; rpmbuild,
# createrepo_c and bwrap to build and compose the test OS (scripts/setup.sh has them too).
PKGS=(qemu-system-x86 qemu-utils ovmf grub-efi-amd64-bin grub-common mtools dosfstools gdisk e2fsprogs rpm createrepo-c bubblewrap)
. scripts/apt-ensure.sh
apt_ensure "${PKGS[@]}"

bash vm-tests/build.sh
export PATH="$PWD/node_modules/.bin:$PATH"
exec vitest run --config vm-tests/vitest.config.ts "$@"
