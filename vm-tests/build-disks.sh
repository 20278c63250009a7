#!/usr/bin/env bash
# The guest's two read-only data disks (ext4, no partition table, made with mkfs.ext4 -d):
#   WORK/tools.img  label atomic-tools: this checkout's runtime files (bin/, the CLI's
#                   JavaScript bundle dist/ and its launcher, package.json, production
#                   node_modules with Node's binary), mounted at /run/vmtest/tools/atomic
#                   in the guest.
#   WORK/repo.img   label atomic-repo: the published repository WORK/repo, which the
#                   guest's sysroot has as remote "vmtest" (file:///run/vmtest/repo).
# Each is rebuilt only when its content changes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkfs_dir() { # LABEL DIR IMAGE: an ext4 image sized to the content plus slack
	local label=$1 dir=$2 img=$3 mib
	mib=$(( $(du -sm "$dir" | cut -f1) * 12 / 10 + 32 ))
	rm -f "$img" && truncate -s "${mib}M" "$img"
	mkfs.ext4 -q -F -b 4096 -L "$label" -O ^has_journal -E root_owner=0:0 -d "$dir" "$img" "${mib}M"
}

# Tools: the CLI as its JavaScript bundle (no TypeScript sources: the launcher then runs the
# bundle, and no module is type-stripped in the guest) and its production dependencies.
"$ROOT/node_modules/.bin/node" "$ROOT/scripts/build.ts" --if-stale
src_list() {
	(cd "$ROOT" && find bin cli/launch.js dist package.json \( -type f -o -type l \) -print | LC_ALL=C sort)
}
tools_key=$WORK/tools.key
{ src_list | (cd "$ROOT" && xargs stat -c '%n %s %Y'); cat "$ROOT/package-lock.json"; sha256sum "$0"; } > "$tools_key.new"
if [ -f "$WORK/tools.img" ] && cmp -s "$tools_key.new" "$tools_key"; then
	log "tools disk is up to date"
	rm -f "$tools_key.new"
else
	t=$WORK/tools-tree
	rm -rf "$t" && mkdir -p "$t/atomic/node_modules/.bin"
	src_list | (cd "$ROOT" && cpio -pdm --quiet "$t/atomic")
	# Production dependencies only; Node itself as node_modules/node/bin/node (bin/atomic runs
	# node_modules/.bin/node), koffi with just its linux_x64 build.
	for d in $(cd "$ROOT" && npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$ROOT/||" | grep '^node_modules/'); do
		case "$d" in
			node_modules/node) mkdir -p "$t/atomic/$d/bin" && cp "$ROOT/$d/package.json" "$t/atomic/$d/" && cp "$ROOT/$d/bin/node" "$t/atomic/$d/bin/node" ;;
			node_modules/koffi)
				mkdir -p "$t/atomic/$d/build/koffi"
				(cd "$ROOT/$d" && find . -path ./build -prune -o -type f -print | cpio -pdm --quiet "$t/atomic/$d")
				cp -a "$ROOT/$d/build/koffi/linux_x64" "$t/atomic/$d/build/koffi/" ;;
			*) mkdir -p "$t/atomic/$(dirname "$d")" && cp -a "$ROOT/$d" "$t/atomic/$d" ;;
		esac
	done
	ln -s ../node/bin/node "$t/atomic/node_modules/.bin/node"
	# A warm Node compile cache: under TCG a cold `atomic` start type-strips and compiles
	# every module (~10 s), a warm one takes ~2 s. The cache is keyed by file path, so it is
	# made with the tree bound where the guest mounts it; the guest copies it to its /tmp.
	# Besides a few real commands, every chunk of the bundle is imported and libsodium
	# (CommonJS, ~1 MB, loaded only to verify signatures) is required, so the first
	# `atomic host upgrade` in the guest compiles nothing.
	cache=$t/node-compile-cache
	warm_all='const { readdirSync } = await import("node:fs");
		const { createRequire } = await import("node:module");
		const root = process.argv[1];
		for (const f of readdirSync(`${root}/dist`))
			if (f.endsWith(".js") && f !== "object-writer-worker.js")
				await import(`${root}/dist/${f}`).catch((e) => console.error(`${f}: ${e.message}`));
		await createRequire(`${root}/package.json`)("libsodium-wrappers").ready;'
	for args in "--help" "host status --sysroot /nonexistent" "repo pull --help" "--warm-all"; do
		if [ "$args" = --warm-all ]; then
			set -- "$GUEST_TOOLS/atomic/node_modules/.bin/node" --no-warnings --input-type=module -e "$warm_all" "$GUEST_TOOLS/atomic"
		else
			# shellcheck disable=SC2086
			set -- "$GUEST_TOOLS/atomic/bin/atomic" $args
		fi
		bwrap --bind / / --tmpfs /run --bind "$t" "$GUEST_TOOLS" --dev /dev --proc /proc \
			--setenv NODE_COMPILE_CACHE "$GUEST_TOOLS/node-compile-cache" "$@" >/dev/null 2>&1 || true
	done
	[ -d "$cache" ] || die "warming the compile cache produced nothing"
	mkfs_dir "$LABEL_TOOLS" "$t" "$WORK/tools.img"
	rm -rf "$t"
	mv "$tools_key.new" "$tools_key"
	log "tools disk: $(du -m --apparent-size "$WORK/tools.img" | cut -f1) MiB"
fi

# The published repository.
repo_key=$(find "$WORK/repo" -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
if [ -f "$WORK/repo.img" ] && [ "$(cat "$WORK/repo.img.key" 2>/dev/null)" = "$repo_key" ]; then
	log "repository disk is up to date"
else
	mkfs_dir "$LABEL_REPO" "$WORK/repo" "$WORK/repo.img"
	echo "$repo_key" > "$WORK/repo.img.key"
	log "repository disk: $(du -m --apparent-size "$WORK/repo.img" | cut -f1) MiB"
fi
