#!/usr/bin/env bash
# `npm run demo`, end to end: the demo OS from spec files to an upgraded and rolled-back host.
#
#   build demo repo 1.0 → compose → publish → host init/os-init/deploy into a sysroot
#   → build 2.0 → compose → publish → host upgrade → status → rollback → status
#
# Everything lives under $DEMO_WORK (default /var/tmp/atomic-demo): rpms/ (the rpm-md
# repository the treefile's baseurl names), compose/ (the compose repo and cache),
# pub/ (the published archive repo, what a web server would serve) and sysroot/.
# Needs rpmbuild, createrepo_c, bwrap and a static busybox (Debian: rpm, createrepo-c,
# bubblewrap, busybox-static); runs as root (files are owned by the users packages name).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/bin:$PWD/node_modules/.bin:$PATH"

work=${DEMO_WORK:-/var/tmp/atomic-demo}
# Deployment roots are immutable (chattr +i, as ostree makes them): clear that first.
if [ -d "$work/sysroot/ostree/deploy" ]; then
  find "$work/sysroot/ostree/deploy" -mindepth 3 -maxdepth 3 -path '*/deploy/*' -type d -exec chattr -i {} + 2>/dev/null || true
fi
rm -rf "$work"
mkdir -p "$work"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# The treefiles, with the repo pointing at this run's package directory.
cp -r treefiles "$work/treefiles"
sed -i "s|^baseurl=.*|baseurl=file://$work/rpms/|" "$work/treefiles/atomic-demo.repo"
tf=$work/treefiles/atomic-demo.yaml
repo=$work/compose/repo
cache=$work/compose/cache
pub=$work/pub
sysroot=$work/sysroot
ref=demo/$(uname -m)/stable

# Signing key of the stream; hosts trust its public half.
atomic repo sign --generate-key --secret-file "$work/stream.secret" --public-file "$work/stream.pub" >/dev/null

# Version 1.0 of the packages, composed into commit version 1, published.
step demo/build-repo.sh 1.0 "$work/rpms"
step atomic repo init --repo "$repo" --mode bare-user
step atomic compose tree --repo "$repo" --cachedir "$cache" "$tf"
step atomic compose tree --repo "$repo" --cachedir "$cache" "$tf"   # unchanged inputs: no new commit
step atomic compose publish --repo "$repo" --to "$pub" --keys-file "$work/stream.secret"

# A host: an empty sysroot following the published stream, signatures required.
step atomic host init --sysroot "$sysroot"
step atomic host os-init demo --sysroot "$sysroot"
step atomic repo remote add --repo "$sysroot/ostree/repo" --sign-verify "ed25519=file:$work/stream.pub" demo "file://$pub"
step atomic repo pull --repo "$sysroot/ostree/repo" demo "$ref"
step atomic host deploy --sysroot "$sysroot" --os demo "demo:$ref"
step atomic host status --sysroot "$sysroot"

# Version 2.0 of demo-release and demo-tools: the next compose is version 1.1.
step demo/build-repo.sh 2.0 "$work/rpms"
step atomic compose tree --repo "$repo" --cachedir "$cache" "$tf"
step atomic compose publish --repo "$repo" --to "$pub" --keys-file "$work/stream.secret" --keep 3
step atomic host upgrade --sysroot "$sysroot" --os demo
step atomic host status --sysroot "$sysroot"

# The new deployment's os-release carries the commit version.
new=$(ls -d "$sysroot"/ostree/deploy/demo/deploy/*.0 | while read -r d; do
  if grep -q "OSTREE_VERSION='1.1'" "$d/usr/lib/os-release"; then echo "$d"; fi; done | head -n1)
[ -n "$new" ] || { echo "error: no deployment of version 1.1" >&2; exit 1; }
step grep -E '^(PRETTY_NAME|OSTREE_VERSION)=' "$new/usr/lib/os-release"

step atomic host rollback --sysroot "$sysroot" --os demo
step atomic host status --sysroot "$sysroot"

step ostree fsck --repo="$pub"
step ostree fsck --repo="$sysroot/ostree/repo"
printf '\ndemo complete: %s\n' "$work"
