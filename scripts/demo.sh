#!/usr/bin/env bash
# The end-to-end demo: installs what it needs, then commits a sample tree into a
# fresh repository, commits an update on top, checks it out with hardlinks, diffs,
# and verifies the repository with both atomic and the real ostree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/bin:$PWD/node_modules/.bin:$PATH"

work=${DEMO_WORK:-$PWD/demo-work}
rm -rf "$work"
mkdir -p "$work"
repo=$work/repo
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# A small OS-shaped tree.
tree=$work/tree-v1
mkdir -p "$tree"/usr/{bin,lib/modules/6.1.0-demo,etc} "$tree"/usr/share/doc/demo
printf '#!/bin/sh\necho "hello from demo OS"\n' > "$tree/usr/bin/hello"
chmod 755 "$tree/usr/bin/hello"
printf 'NAME="Demo OS"\nVERSION="1"\nID=demo\nPRETTY_NAME="Demo OS 1"\n' > "$tree/usr/lib/os-release"
echo "a kernel" > "$tree/usr/lib/modules/6.1.0-demo/vmlinuz"
echo "an initramfs" > "$tree/usr/lib/modules/6.1.0-demo/initramfs.img"
echo "demo-host" > "$tree/usr/etc/hostname"
ln -s ../lib/os-release "$tree/usr/etc/os-release"
seq 1 2000 > "$tree/usr/share/doc/demo/numbers"

step atomic repo init --repo "$repo" --mode bare-user
step atomic repo commit --repo "$repo" --branch demo/x86_64/stable --subject "Demo OS 1" --add-metadata-string version=1 "$tree"

# Version 2: check out v1 with hardlinks, change a little, commit on top.
tree2=$work/tree-v2
step atomic repo checkout --repo "$repo" -U -H demo/x86_64/stable "$tree2"
rm "$tree2/usr/lib/os-release"
printf 'NAME="Demo OS"\nVERSION="2"\nID=demo\nPRETTY_NAME="Demo OS 2"\n' > "$tree2/usr/lib/os-release"
printf '#!/bin/sh\necho "new tool in v2"\n' > "$tree2/usr/bin/newtool"
chmod 755 "$tree2/usr/bin/newtool"
step atomic repo commit --repo "$repo" --branch demo/x86_64/stable --subject "Demo OS 2" --add-metadata-string version=2 "$tree2"

step atomic repo log --repo "$repo" demo/x86_64/stable
step atomic repo diff --repo "$repo" demo/x86_64/stable^ demo/x86_64/stable
step atomic repo ls --repo "$repo" -R demo/x86_64/stable /usr/bin
step atomic repo cat --repo "$repo" demo/x86_64/stable /usr/lib/os-release

# A hardlink checkout costs no file data: the files are the repository's objects.
co=$work/checkout
step atomic repo checkout --repo "$repo" -U -H demo/x86_64/stable "$co"
printf '\nlink count of %s: %s (hardlinked into the object store)\n' "$co/usr/share/doc/demo/numbers" "$(stat -c %h "$co/usr/share/doc/demo/numbers")"

step atomic repo fsck --repo "$repo"
step ostree fsck --repo="$repo"
step atomic repo prune --repo "$repo" --refs-only --depth 0
step ostree fsck --repo="$repo"
printf '\ndemo complete: repository at %s\n' "$repo"
