#!/usr/bin/env bash
# The guest's kernel, busybox and initramfs, in WORK/guest:
#   vmlinuz, KVER, busybox (static), modules/ (the few .ko the guest needs, flat),
#   load-order (their insmod order), initramfs.img (cpio newc + gzip; /init from
#   vm-tests/initramfs/init).
# The kernel is Debian's linux-image-cloud-amd64 and busybox Debian's busybox-static, both
# fetched with `apt-get download` and unpacked with dpkg-deb: never installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=$WORK/guest
debs=$WORK/debs
mkdir -p "$debs"

# Modules the guest loads, by name; dependencies are added from each .ko's modinfo.
WANT_MODULES=(virtio_pci virtio_blk virtio_console qemu_fw_cfg vfat nls_cp437 nls_iso8859-1)

fetch_deb() { # PACKAGE -> path of the .deb in $debs
	local pkg=$1 f
	f=$(ls "$debs"/"${pkg}"_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$f" ]; then
		log "downloading $pkg"
		(cd "$debs" && apt-get download "$pkg" >/dev/null 2>&1) || (apt-get update -qq && cd "$debs" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
		f=$(ls "$debs"/"${pkg}"_*.deb | head -1)
	fi
	echo "$f"
}

# The versioned kernel package behind the metapackage.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
kdeb=$(fetch_deb "$kpkg")
bdeb=$(fetch_deb busybox-static)

if stamp_ok guest "$kdeb" "$bdeb" "$0" "$VMT/initramfs/init" && [ -f "$out/initramfs.img" ]; then
	log "guest kernel and initramfs are up to date ($(cat "$out/KVER"))"
	exit 0
fi

rm -rf "$out" && mkdir -p "$out"
x=$out/.x
mkdir -p "$x/kernel" "$x/busybox"
dpkg-deb -x "$kdeb" "$x/kernel"
dpkg-deb -x "$bdeb" "$x/busybox"
kver=$(ls "$x/kernel/lib/modules")
echo "$kver" > "$out/KVER"
cp "$x/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$x/busybox/bin/busybox" "$out/busybox"
kmods=$x/kernel/lib/modules/$kver

# Dependency order: depth-first over `depends=` in each module's .modinfo.
declare -A seen=()
order=()
add_module() {
	local name=$1 f dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	f=$(find "$kmods/kernel" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) | head -1)
	[ -n "$f" ] || die "module $name not found in $kpkg (built in?)"
	for dep in $(strings -a "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add_module "$dep"; done
	mkdir -p "$out/modules"
	cp "$f" "$out/modules/$name.ko"
	order+=("$name")
}
for m in "${WANT_MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${order[@]}" > "$out/load-order"

# The initramfs tree: busybox with every applet linked, the modules, /init, /dev/console.
ir=$x/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,run,sysroot,newroot,lib/modules}
cp "$out/busybox" "$ir/bin/busybox"
for a in $("$out/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$ir/bin/$a"; done
cp "$out"/modules/*.ko "$out/load-order" "$ir/lib/modules/"
install -m 0755 "$VMT/initramfs/init" "$ir/init"
mknod -m 0600 "$ir/dev/console" c 5 1
mknod -m 0666 "$ir/dev/null" c 1 3
(cd "$ir" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) > "$out/initramfs.img"
rm -rf "$x"
stamp_set guest "$kdeb" "$bdeb" "$0" "$VMT/initramfs/init"
log "guest: kernel $kver, initramfs $(stat -c %s "$out/initramfs.img") bytes, modules: ${order[*]}"
