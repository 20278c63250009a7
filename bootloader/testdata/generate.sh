#!/bin/sh
# Regenerates the grubenv vectors in this directory with the real grub-editenv
# (Debian 12: grub-common 2.06-13+deb12u2). See README.md.
set -eu
cd "$(dirname "$0")"
rm -f grubenv-empty grubenv-counting grubenv-escapes
grub-editenv grubenv-empty create
grub-editenv grubenv-counting create
grub-editenv grubenv-counting set boot_counter=3 boot_success=0
grub-editenv grubenv-escapes create
grub-editenv grubenv-escapes set saved_entry=ostree-0 'path=C:\dir' 'two=line one
line two'
grub-editenv grubenv-escapes set boot_success=1
grub-editenv grubenv-escapes unset saved_entry
