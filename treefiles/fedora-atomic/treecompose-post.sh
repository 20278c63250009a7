#!/usr/bin/env bash
# Post-processing in the style of Fedora Atomic Host's treecompose-post.sh.
set -xeuo pipefail
# Persistent journal by default.
mkdir -p /var/log/journal
# Let the OS version show in the login prompt.
echo 'Fedora Atomic Host \r (\l)' > /etc/issue
