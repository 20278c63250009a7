#!/bin/sh
# Runs inside the new tree (bubblewrap, no network) after the inline postprocess scripts.
set -eu
mkdir -p /usr/lib/atomic
date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%d > /usr/lib/atomic/build-date 2>/dev/null || echo unknown > /usr/lib/atomic/build-date
