#!/usr/bin/env bash
# The test OS, versions 1, 2 and 3, committed with `atomic repo commit` into the archive
# repository WORK/repo (what the guest upgrades from; branch testos/x86_64/stable):
#   WORK/repo-v1  a copy of the repo taken when the branch held only v1 (the image is
#                 deployed from it, so its origin follows the branch);
#   WORK/repo     stable = v2 (parent v1); testos/x86_64/next = v3 (parent v2).
# Commit timestamps are fixed, so the checksums only change when the tree does.
# A tree: the guest kernel with its initramfs and modules under usr/lib/modules/KVER,
# busybox, a glibc runtime copied from this host (for node on the tools disk), and
# vm-tests/os/init as /sbin/init. WORK/os/vN.commit holds each checksum.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

g=$WORK/guest
[ -f "$g/initramfs.img" ] || die "run vm-tests/build-guest.sh first"
kver=$(cat "$g/KVER")
os=$WORK/os
node_bin=$ROOT/node_modules/node/bin/node
koffi_node=$ROOT/node_modules/koffi/build/koffi/linux_x64/koffi.node
[ -x "$node_bin" ] || die "$node_bin is missing (run scripts/setup.sh)"

if stamp_ok os "$0" "$VMT/os/init" "$g/initramfs.img" "$g/vmlinuz" "$g/busybox" "$ROOT/package-lock.json" && [ -f "$WORK/repo/config" ] && [ -f "$os/v3.commit" ]; then
	log "test OS repository is up to date (v1 $(cut -c1-12 "$os/v1.commit"), v2 $(cut -c1-12 "$os/v2.commit"), v3 $(cut -c1-12 "$os/v3.commit"))"
	exit 0
fi
rm -rf "$os" "$WORK/repo" "$WORK/repo-v1"
mkdir -p "$os"

# make_tree DIR VERSION
make_tree() {
	local t=$1 v=$2 a lib
	mkdir -p "$t"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,etc,share/vmtest} "$t/usr/lib/modules/$kver/kernel"
	for d in boot dev proc sys run sysroot tmp var mnt; do mkdir -p "$t/$d"; done
	ln -s usr/bin "$t/bin"
	ln -s usr/sbin "$t/sbin"
	ln -s usr/lib "$t/lib"
	ln -s usr/lib64 "$t/lib64"
	ln -s sysroot/ostree "$t/ostree"
	ln -s var/roothome "$t/root"
	ln -s var/home "$t/home"
	# Kernel, initramfs and modules where ostree looks for them (format §9.1).
	cp "$g/vmlinuz" "$t/usr/lib/modules/$kver/vmlinuz"
	cp "$g/initramfs.img" "$t/usr/lib/modules/$kver/initramfs.img"
	cp "$g"/modules/*.ko "$t/usr/lib/modules/$kver/kernel/"
	# busybox and its applets; `bash` for the client's /boot thaw watchdog is busybox ash.
	cp "$g/busybox" "$t/usr/bin/busybox"
	for a in $("$g/busybox" --list); do
		case "$a" in busybox | init | linuxrc) ;; *) ln -s busybox "$t/usr/bin/$a" ;; esac
	done
	printf '#!/usr/bin/busybox sh\nexec /usr/bin/busybox ash "$@"\n' > "$t/usr/bin/bash"
	chmod 0755 "$t/usr/bin/bash"
	install -m 0755 "$VMT/os/init" "$t/usr/sbin/init"
	# glibc runtime for node and koffi (what ldd lists), from this host.
	for lib in $(ldd "$node_bin" "$koffi_node" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | sort -u); do
		cp -L "$lib" "$t/usr/lib/x86_64-linux-gnu/"
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$t/usr/lib64/"
	# Default configuration in /usr/etc (ostree moves it to /etc at deploy).
	cat > "$t/usr/lib/os-release" <<-EOF
		NAME="Atomic Test OS"
		ID=testos
		VERSION="$v"
		VERSION_ID=$v
		PRETTY_NAME="Atomic Test OS $v"
	EOF
	ln -s ../usr/lib/os-release "$t/usr/etc/os-release"
	echo vmtest > "$t/usr/etc/hostname"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$t/usr/etc/passwd"
	printf 'root:x:0:\n' > "$t/usr/etc/group"
	echo "default v$v" > "$t/usr/etc/vmtest-marker"
	echo "$v" > "$t/usr/share/vmtest/version"
}

repo=$WORK/repo
atomic repo init --repo "$repo" --mode archive >/dev/null
# commit_version N TIMESTAMP [BRANCH]
commit_version() {
	local v=$1 ts=$2 branch=${3:-$BRANCH} t=$os/tree-v$1 csum
	make_tree "$t" "$v"
	csum=$(atomic repo commit --repo "$repo" --branch "$branch" --subject "Atomic Test OS $v" \
		--add-metadata-string version="$v" --timestamp "$ts" "$t")
	echo "$csum" > "$os/v$v.commit"
	rm -rf "$t"
	log "committed v$v $csum to $branch"
}
commit_version 1 2024-01-01T00:00:00Z
atomic repo summary --repo "$repo" -u >/dev/null
cp -a "$repo" "$WORK/repo-v1"
commit_version 2 2024-01-02T00:00:00Z
# v3 continues from v2 on its own branch (kept for later scenarios such as boot counting).
make_tree "$os/tree-v3" 3
csum=$(atomic repo commit --repo "$repo" --branch testos/x86_64/next --parent "$(cat "$os/v2.commit")" --subject "Atomic Test OS 3" \
	--add-metadata-string version=3 --timestamp 2024-01-03T00:00:00Z "$os/tree-v3")
echo "$csum" > "$os/v3.commit"
rm -rf "$os/tree-v3"
atomic repo summary --repo "$repo" -u >/dev/null
stamp_set os "$0" "$VMT/os/init" "$g/initramfs.img" "$g/vmlinuz" "$g/busybox" "$ROOT/package-lock.json"
log "test OS: v1 $(cut -c1-12 "$os/v1.commit"), v2 $(cut -c1-12 "$os/v2.commit"), v3 $(cut -c1-12 "$os/v3.commit")"
