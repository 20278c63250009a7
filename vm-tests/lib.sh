# Shared settings of the vm-tests build scripts (sourced, not run).
# WORK holds every downloaded and built artefact; nothing is written into the checkout.
VMT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$VMT/.." && pwd)
WORK=${ATOMIC_VM_WORK:-/var/tmp/atomic-vm}
export PATH="$ROOT/bin:$ROOT/node_modules/.bin:/usr/sbin:/sbin:$PATH"

# The test OS: stateroot, branch, and the remote the guest upgrades from.
OSNAME=testos
BRANCH=testos/x86_64/stable
REMOTE=vmtest
# Where the guest mounts the read-only disks (tmpfs /run, so the OS tree needs no mount points).
GUEST_TOOLS=/run/vmtest/tools
GUEST_REPO=/run/vmtest/repo
# Filesystem labels the initramfs and the guest init look for.
LABEL_ROOT=root
LABEL_BOOT=boot
LABEL_TOOLS=atomic-tools
LABEL_REPO=atomic-repo
# Kernel arguments of the first deployment (later ones inherit them).
KARGS=(root=LABEL=$LABEL_ROOT rw console=ttyS0 quiet panic=-1)

log() { printf 'vm-tests: %s\n' "$*" >&2; }
die() { printf 'vm-tests: error: %s\n' "$*" >&2; exit 1; }

# stamp_ok NAME INPUTS...: true when WORK/NAME.stamp records the same hash of the inputs
# (file contents and script text), so a build step runs again only when they change.
stamp_hash() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { local n=$1; shift; [ -f "$WORK/$n.stamp" ] && [ "$(cat "$WORK/$n.stamp")" = "$(stamp_hash "$@")" ]; }
stamp_set() { local n=$1; shift; stamp_hash "$@" > "$WORK/$n.stamp"; }
