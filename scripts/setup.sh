#!/usr/bin/env bash
# Installs everything atomic needs on Debian 12: the system tools its tests use
# as oracles (apt-get) and the npm dependencies, which bring Node.js 24 (npm ci).
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: ostree (the oracle), attr (getfattr/setfattr), e2fsprogs (chattr),
# grub-common (grub-script-check, grub-editenv: oracles for bootloader/), time (bench),
# nginx-light (the static HTTP server pulls are tested against), rpm/rpmbuild, createrepo-c
# and dnf (oracles for compose), libsolv (the depsolver compose calls through koffi),
# bubblewrap (sandbox for scriptlets), zstd/bzip2/cpio (payload and metadata codecs),
# busybox-static (the demo OS's shell, packaged by demo/build-repo.sh), libcap2-bin
# (setcap: the oracle for file capabilities).
PKGS=(ostree attr e2fsprogs xz-utils ca-certificates grub-common time nginx-light rpm createrepo-c dnf
  libsolv1 libsolvext1 bubblewrap zstd bzip2 cpio busybox-static libcap2-bin)
. scripts/apt-ensure.sh
apt_ensure "${PKGS[@]}"

# npm dependencies (Node 24 comes as the `node` package). Skip when the lockfile is unchanged.
stamp=node_modules/.package-lock.json
if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp.copy" 2>/dev/null; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp.copy"
fi
node_modules/.bin/node -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj < 24) { console.error("setup: Node 24 is required, got " + process.version); process.exit(1); }'

# The CLI's JavaScript bundle (dist/), rebuilt when a source changed; bin/atomic falls back
# to the TypeScript sources whenever the bundle is not current.
node_modules/.bin/node scripts/build.ts --if-stale
