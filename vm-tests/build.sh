#!/usr/bin/env bash
# Builds everything the VM tests boot, into WORK (default /var/tmp/atomic-vm): the test
# OS (RPMs, composed and published tree stream), the boot disk, the tools and repository
# disks. Each step is skipped when its inputs are unchanged.
set -euo pipefail
here=$(dirname "$0")
bash "$here/build-os.sh"
bash "$here/build-image.sh"
bash "$here/build-disks.sh"
