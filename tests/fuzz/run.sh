#!/usr/bin/env bash
# Run every libFuzzer target in build/fuzzbin for FUZZ_SECONDS each, starting
# from its seed corpus (tests/fuzz/corpus/<target>/, copied: seeds stay clean).
# Fails on the first crash, leak or sanitizer report.
set -euo pipefail
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in build/fuzzbin/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	mkdir -p "$work/$name"
	if [ -d "tests/fuzz/corpus/$name" ]; then cp -r "tests/fuzz/corpus/$name/." "$work/$name/"; fi
	echo "== $name for ${secs}s"
	if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
		-artifact_prefix="$work/$name-" -print_final_stats=1 "$work/$name" 2>"$work/$name.log"; then
		tail -n 60 "$work/$name.log"
		mkdir -p build/fuzz-artifacts
		cp "$work/$name-"* build/fuzz-artifacts/ 2>/dev/null || true
		status=1
	else
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/$name.log" | tr '\n' ' '; echo
	fi
done
exit $status
