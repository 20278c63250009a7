#!/usr/bin/env bash
# The boot disk WORK/disk.img, without loop devices or mounts (vm-boot-notes.md):
#   GPT  p1 ESP   (FAT32, 40 MiB): EFI/BOOT/BOOTX64.EFI (grub-mkimage from Debian's
#                 grub-efi-amd64-bin) + EFI/BOOT/grub.cfg (vm-tests/grub-stub.ts), which
#                 finds the filesystem labelled "boot" and loads loader/grub.cfg from it;
#        p2 boot  (ext4, 128 MiB): the sysroot's /boot (loader -> loader.N, BLS entries,
#                 the grub.cfg the client generates, kernels under ostree/);
#        p3 root  (ext4, 768 MiB): the sysroot (ostree/repo, ostree/deploy/testos, …).
# The sysroot is made by the client: `atomic host init --bootloader grub2`, `os-init`,
# the remote (commits must carry the stream's ed25519 signature, WORK/os/stream.pub), a
# pull of v1 from WORK/repo-v1 and `atomic host deploy`.
# WORK/disk.img.offsets records the partitions' byte offsets and sizes for the harness.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

img=$WORK/disk.img
b=$WORK/image
inputs=("$0" "$VMT/grub-stub.ts" "$WORK/os/v1.commit" "$WORK/os/stream.pub" "$ROOT/bootloader/grub.ts" "$ROOT/client/swap.ts" "$ROOT/client/deploy.ts" "$ROOT/client/bootconfig.ts")
if stamp_ok image "${inputs[@]}" && [ -f "$img" ] && [ -f "$img.offsets" ]; then
	log "disk image is up to date"
	exit 0
fi

# A previous sysroot: deployment roots are immutable (chattr +i), as ostree makes them.
if [ -d "$b/sysroot/ostree/deploy" ]; then
	find "$b/sysroot/ostree/deploy" -mindepth 3 -maxdepth 3 -type d -exec chattr -i {} + 2>/dev/null || true
fi
rm -rf "$b" && mkdir -p "$b"
s=$b/sysroot
t0=$EPOCHREALTIME

# 1. The sysroot, by the client.
atomic host init --sysroot "$s" --bootloader grub2
atomic host os-init --sysroot "$s" "$OSNAME" >/dev/null
# The remote points at the v1 snapshot while building, then at the guest's repository disk.
remote_add() { atomic repo remote add --repo "$s/ostree/repo" --force --no-gpg-verify --sign-verify "ed25519=inline:$(cat "$WORK/os/stream.pub")" "$REMOTE" "$1" "$BRANCH"; }
remote_add "file://$WORK/repo-v1"
atomic repo pull --repo "$s/ostree/repo" --progress none "$REMOTE" "$BRANCH" >/dev/null
kargs=()
for k in "${KARGS[@]}"; do kargs+=(--karg "$k"); done
atomic host deploy --sysroot "$s" --os "$OSNAME" "${kargs[@]}" "$REMOTE:$BRANCH" >/dev/null
remote_add "file://$GUEST_REPO"
booted=$(readlink "$s/boot/loader") || die "deploy wrote no /boot/loader"
[ -f "$s/boot/$booted/grub.cfg" ] || die "deploy wrote no $booted/grub.cfg (bootloader grub2)"

# 2. Split /boot off into its own filesystem tree.
mv "$s/boot" "$b/bootfs"
mkdir -m 0755 "$s/boot"

# 3. The ESP tree: GRUB with the modules it needs built in, and the stub.
esp=$b/esp
mkdir -p "$esp/EFI/BOOT"
grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$esp/EFI/BOOT/BOOTX64.EFI" \
	part_gpt fat ext2 normal configfile search search_label search_fs_uuid test echo loadenv linux gzio \
	all_video efi_gop efi_uga font gfxterm terminal serial sleep reboot halt
node "$VMT/grub-stub.ts" "$LABEL_BOOT" 0 > "$esp/EFI/BOOT/grub.cfg"

# 4. The GPT image and the three filesystems, written at their offsets.
rm -f "$img"
truncate -s 940M "$img"
sgdisk -o -n 1:2048:+40M -t 1:ef00 -c 1:ESP -n 2:0:+128M -t 2:8300 -c 2:boot -n 3:0:0 -t 3:8304 -c 3:root "$img" >/dev/null
part() { sgdisk -i "$1" "$img" | sed -n "s/^$2 sector: \([0-9]*\).*/\1/p"; }
: > "$img.offsets"
for n in 1 2 3; do
	first=$(part $n First)
	last=$(part $n Last)
	eval "p${n}_off=$((first * 512)) p${n}_size=$(((last - first + 1) * 512))"
done
mkfs.vfat -F 32 -s 1 -n ESP --offset=$((p1_off / 512)) "$img" $((p1_size / 1024)) >/dev/null 2>&1
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$img@@$p1_off" "$esp/EFI" ::/
mkfs.ext4 -q -F -L "$LABEL_BOOT" -E offset=$p2_off,root_owner=0:0 -d "$b/bootfs" "$img" $((p2_size / 1024))k
mkfs.ext4 -q -F -L "$LABEL_ROOT" -E offset=$p3_off,root_owner=0:0 -d "$s" "$img" $((p3_size / 1024))k
printf 'esp %s %s\nboot %s %s\nroot %s %s\n' "$p1_off" "$p1_size" "$p2_off" "$p2_size" "$p3_off" "$p3_size" > "$img.offsets"
e2fsck -fn "$img?offset=$p2_off" >/dev/null 2>&1 && e2fsck -fn "$img?offset=$p3_off" >/dev/null 2>&1 || die "e2fsck of the new image failed"
stamp_set image "${inputs[@]}"
log "disk image: v1 deployed ($booted), built in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s"
