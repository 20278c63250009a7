#!/usr/bin/env bash
# The test OS, from spec files to a published tree stream, all with the project's tools:
#  1. RPMs: vm-tests/os/specs built with rpmbuild into WORK/os/rpms, an rpm-md repository
#     made by createrepo_c. The kernel and busybox are Debian's linux-image-*-cloud-amd64
#     and busybox-static, fetched with `apt-get download` and repackaged (never installed);
#     testos-filesystem, testos-init (init, initramfs generator) and testos-node-runtime
#     (the C runtime node needs) are built once; testos-release 1, 2 and 3 are added to the
#     repository one at a time, as a distribution's updates arrive.
#  2. Compose: `atomic compose tree` of treefiles/testos.yaml after each release is added:
#     v1 and v2 on testos/x86_64/stable, v3 on testos/x86_64/next (testos-next.yaml, parent
#     v2). The compose runs depmod and the tree's /usr/lib/atomic/mkinitramfs, so every
#     version has its own initramfs (it carries the version's os-release).
#  3. Publish: `atomic compose publish` signs each new commit with WORK/os/stream.secret,
#     generates the static delta from its parent and updates the summary of WORK/repo, the
#     archive repository the guest upgrades from. WORK/repo-v1 is a copy taken when it held
#     v1 only (the disk image is deployed from it, so its origin follows the branch).
# Outputs besides: WORK/os/vN.commit (each checksum), WORK/os/stream.pub (the public key
# the guest's remote verifies with), WORK/os/boot-files (per version: boot checksum,
# kernel and initramfs sizes, which the power-cut checks expect in /boot).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

os=$WORK/os
debs=$WORK/debs
specs=$VMT/os/specs
files=$VMT/os/files
node_bin=$ROOT/node_modules/node/bin/node
koffi_node=$ROOT/node_modules/koffi/build/koffi/linux_x64/koffi.node
[ -x "$node_bin" ] || die "$node_bin is missing (run scripts/setup.sh)"
mkdir -p "$debs"

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

inputs=("$0" "$VMT/lib.sh" "$specs"/*.spec "$files"/* "$ROOT"/treefiles/testos*.yaml "$ROOT/treefiles/testos.repo" "$kdeb" "$bdeb" "$ROOT/package-lock.json")
if stamp_ok os "${inputs[@]}" && [ -f "$WORK/repo/config" ] && [ -f "$os/v3.commit" ] && [ -f "$os/boot-files" ]; then
	log "test OS repository is up to date (v1 $(cut -c1-12 "$os/v1.commit"), v2 $(cut -c1-12 "$os/v2.commit"), v3 $(cut -c1-12 "$os/v3.commit"))"
	exit 0
fi
rm -rf "$os" "$WORK/repo" "$WORK/repo-v1"
mkdir -p "$os/rpms"
t0=$EPOCHREALTIME

# 1. RPMs. Versions come from the .debs: 6.1.192-2 -> kernel-6.1.192-2.
top=$os/rpmbuild
mkdir -p "$top/SOURCES"
cp "$files"/* "$top/SOURCES/"
cp "$kdeb" "$top/SOURCES/linux-image.deb"
cp "$bdeb" "$top/SOURCES/busybox-static.deb"
kver=$(dpkg-deb -c "$kdeb" | sed -n 's|.* \./lib/modules/\([^/]*\)/$|\1|p' | head -1)
[ -n "$kver" ] || die "$kdeb has no lib/modules/KVER"
kv=$(dpkg-deb -f "$kdeb" Version)
bv=$(dpkg-deb -f "$bdeb" Version)
bv=${bv#*:}
# The C runtime of node and koffi (what ldd lists), from this machine.
rt=$os/runtime
mkdir -p "$rt"
for lib in $(ldd "$node_bin" "$koffi_node" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | sort -u) /lib64/ld-linux-x86-64.so.2; do
	cp -L "$lib" "$rt/"
done
tar -cf "$top/SOURCES/node-runtime.tar" -C "$rt" --sort=name --owner=0 --group=0 --mtime=@0 .
rm -rf "$rt"
glibc=$(ldd --version | sed -n '1s/.* \([0-9][0-9.]*\)$/\1/p')

export SOURCE_DATE_EPOCH=1704067200 # 2024-01-01: fixed build times, reproducible RPMs
defines=(--define "_topdir $top" --define "_build_id_links none"
	--define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1"
	--define "kver $kver" --define "kernel_version ${kv%%-*}" --define "kernel_release ${kv#*-}"
	--define "busybox_version ${bv%%-*}" --define "busybox_release $(echo "${bv#*-}" | tr -- '-+' '..')"
	--define "runtime_version $glibc")
rpm_build() { # SPEC [DEFINES...]
	local spec=$1
	shift
	rpmbuild -bb --quiet "${defines[@]}" "$@" "$specs/$spec" > "$top/build.log" 2>&1 || { cat "$top/build.log" >&2; die "rpmbuild $spec failed"; }
	find "$top/RPMS" -name '*.rpm' -exec mv {} "$os/rpms/" \;
}
for spec in testos-filesystem busybox kernel testos-init testos-node-runtime; do rpm_build "$spec.spec"; done
add_release() { # N: testos-release-N into the repository
	rpm_build testos-release.spec --define "testos_version $1"
	createrepo_c --quiet --no-database --update "$os/rpms" >/dev/null
}
log "RPMs: $(cd "$os/rpms" && ls | tr '\n' ' ')"

# 2 and 3. Compose and publish, version by version. The treefiles are copied so that
# baseurl names this WORK.
cp "$ROOT"/treefiles/testos*.yaml "$ROOT/treefiles/testos.repo" "$os/"
sed -i "s|^baseurl=.*|baseurl=file://$os/rpms/|" "$os/testos.repo"
compose_repo=$os/compose
atomic repo init --repo "$compose_repo" --mode bare-user >/dev/null
atomic repo sign --generate-key --secret-file "$os/stream.secret" --public-file "$os/stream.pub" >/dev/null
# compose N TIMESTAMP TREEFILE [ARGS...]: compose, publish, record the checksum.
compose() {
	local v=$1 ts=$2 tf=$3 ref
	shift 3
	ref=$(sed -n 's/^ref: *//p' "$os/$tf" | sed 's/\${basearch}/x86_64/')
	SOURCE_DATE_EPOCH=$ts atomic compose tree --repo "$compose_repo" --cachedir "$os/cache" \
		--add-metadata-string version="$v" "$@" "$os/$tf" > "$os/compose-v$v.log" 2>&1 || { cat "$os/compose-v$v.log" >&2; die "compose of v$v failed"; }
	atomic compose publish --repo "$compose_repo" --to "$WORK/repo" --keys-file "$os/stream.secret" "$ref" > "$os/publish-v$v.log" 2>&1 || { cat "$os/publish-v$v.log" >&2; die "publish of v$v failed"; }
	atomic repo rev-parse --repo "$WORK/repo" "$ref" > "$os/v$v.commit"
	# Boot checksum (sha256 of kernel then initramfs, as the client computes it) and sizes.
	local m=/usr/lib/modules/$kver k i
	k=$(atomic repo cat --repo "$WORK/repo" "$ref" "$m/vmlinuz" | wc -c)
	i=$(atomic repo cat --repo "$WORK/repo" "$ref" "$m/initramfs.img" | wc -c)
	[ "$k" -gt 0 ] && [ "$i" -gt 0 ] || die "v$v has no kernel or initramfs in $m"
	echo "$v $( (atomic repo cat --repo "$WORK/repo" "$ref" "$m/vmlinuz"; atomic repo cat --repo "$WORK/repo" "$ref" "$m/initramfs.img") | sha256sum | cut -d' ' -f1) $k $i" >> "$os/boot-files"
	log "composed and published v$v $(cut -c1-12 "$os/v$v.commit") on $ref"
}
add_release 1
compose 1 1704067200 testos.yaml
cp -a "$WORK/repo" "$WORK/repo-v1"
add_release 2
compose 2 1704153600 testos.yaml
# v3 continues from v2 on its own branch (the boot counting scenario deploys it).
add_release 3
compose 3 1704240000 testos-next.yaml --parent "$(cat "$os/v2.commit")"
rm -rf "$top"
stamp_set os "${inputs[@]}"
log "test OS: kernel $kver; v1 $(cut -c1-12 "$os/v1.commit"), v2 $(cut -c1-12 "$os/v2.commit"), v3 $(cut -c1-12 "$os/v3.commit"); built in $(awk "BEGIN { printf \"%.0f\", $EPOCHREALTIME - $t0 }") s"
