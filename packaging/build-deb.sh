#!/bin/bash
# SPDX-License-Identifier: MIT
# make deb: build the Debian packages of VERSION (the Makefile's) from the
# tracked sources, with packaging/debian as debian/, in build/deb.
#   bash packaging/build-deb.sh VERSION
# The .debs and the .changes land in build/deb/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: build-deb.sh VERSION}
top=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [[ $top != "$version" ]]; then
	echo "build-deb: packaging/debian/changelog is at $top, the Makefile's VERSION is $version" >&2
	exit 1
fi
for tool in dpkg-buildpackage dh fakeroot; do
	command -v "$tool" >/dev/null || { echo "build-deb: missing $tool (make deps)" >&2; exit 2; }
done
out=build/deb
src="$out/tapwarden-$version"
rm -rf "$out"
mkdir -p "$src"
# what is committed (a build tree, local files or uncommitted edits never
# leak in); outside git, the files as they are
if git rev-parse --git-dir >/dev/null 2>&1; then
	[[ -z $(git status --porcelain --untracked-files=no) ]] ||
		echo "build-deb: uncommitted changes are not in the packages (they build HEAD)" >&2
	git archive --format=tar HEAD | tar -x -C "$src"
	rm -rf "$src/packaging/debian"
else
	find . -path ./build -prune -o -path ./.git -prune -o -path ./packaging/debian -prune -o \
		-type f -print0 | xargs -0 cp --parents -t "$src"
fi
cp -r packaging/debian "$src/debian"
(cd "$src" && dpkg-buildpackage -us -uc -b -j2) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log" >&2; echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
ls "$out"/*.deb
