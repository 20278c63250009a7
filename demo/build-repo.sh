#!/usr/bin/env bash
# Builds the demo OS's RPMs (demo/specs/*.spec) with rpmbuild and makes OUTDIR an rpm-md
# repository with createrepo_c:
#
#   demo/build-repo.sh VERSION OUTDIR
#
# VERSION (e.g. 1.0, 2.0) is the version of demo-release, demo-tools and
# demo-debug-tools; the base packages stay at 1.0. A package whose RPM is already in
# OUTDIR is not rebuilt, so running the script again with a newer VERSION adds just the
# new packages, as a distribution's update repository grows.
#
# Environment: DEMO_KERNEL=FILE uses FILE as the kernel image (default: a small
# placeholder, which the demo's initramfs generator accepts); DEMO_KVER sets the kernel
# version directory (default 6.1.0-1.demo); BUSYBOX=FILE the static busybox to package
# (default /bin/busybox or /usr/bin/busybox, from Debian's busybox-static).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 VERSION OUTDIR" >&2
  exit 2
fi
version=$1
out=$2
case $version in
  ''|*[!0-9A-Za-z.+~_]*) echo "error: VERSION must be an RPM version such as 1.0 (got '$version')" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
for tool in rpmbuild rpmspec createrepo_c; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt install rpm createrepo-c)" >&2; exit 1; }
done

busybox=${BUSYBOX:-}
if [ -z "$busybox" ]; then
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ]; then busybox=$candidate; break; fi
  done
fi
[ -n "$busybox" ] || { echo "error: no busybox found (apt install busybox-static, or set BUSYBOX=FILE)" >&2; exit 1; }
if command -v file >/dev/null && ! file -L "$busybox" | grep -q 'statically linked'; then
  echo "error: $busybox is not a statically linked busybox (apt install busybox-static)" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
top=$(mktemp -d "${TMPDIR:-/var/tmp}/demo-rpmbuild.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES"
cp "$here"/files/* "$top/SOURCES/"
cp "$busybox" "$top/SOURCES/busybox"
if [ -n "${DEMO_KERNEL:-}" ]; then
  cp "$DEMO_KERNEL" "$top/SOURCES/vmlinuz"
else
  printf 'Atomic demo OS placeholder kernel image (not bootable)\n' > "$top/SOURCES/vmlinuz"
fi

defines=(--define "_topdir $top" --define "demo_version $version" --define "demo_kver ${DEMO_KVER:-6.1.0-1.demo}"
         --define "_build_id_links none")
built=0
for spec in "$here"/specs/*.spec; do
  # Every binary package this spec makes, as NAME-VERSION-RELEASE.ARCH.
  mapfile -t nevras < <(rpmspec -q --rpms --qf '%{name}-%{version}-%{release}.%{arch}\n' "${defines[@]}" "$spec")
  missing=0
  for n in "${nevras[@]}"; do
    [ -e "$out/$n.rpm" ] || missing=1
  done
  [ "$missing" = 1 ] || continue
  rpmbuild -bb --quiet "${defines[@]}" "$spec" >"$top/build.log" 2>&1 || { cat "$top/build.log" >&2; echo "error: rpmbuild failed for $spec" >&2; exit 1; }
  built=$((built + 1))
done
if [ -d "$top/RPMS" ]; then
  find "$top/RPMS" -name '*.rpm' -exec cp -n {} "$out/" \;
fi
createrepo_c --quiet --no-database --update "$out" >/dev/null
echo "demo repository $out: built $built spec(s); $(find "$out" -maxdepth 1 -name '*.rpm' | wc -l) packages"
