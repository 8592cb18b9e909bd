#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Speed benchmark (make bench): the agent against a bare pcap read (tcpdump)
# and a full dissector (tshark) on a generated capture of realistic SMTP
# sessions, plus the agent's peak memory with every session open at once.
#
# Captures are generated once by gen_capture.py and cached in $BENCH_DIR
# (regenerated when the generator changes).  Wall time and peak RSS come
# from /usr/bin/time -v (wall to the ns around it); tcpdump and the agent are best of $BENCH_RUNS.
# tshark is slow, so it runs once on a 10%-size capture made by the same
# generator with the same seed, and its time is scaled by the byte ratio.
#
# Targets are reported PASS/MISS and never fail the run; the exit status is
# non-zero only when a tool fails to run.
#
# Environment: TW_AGENT (required, the agent binary), BENCH_DIR
# (build/bench), BENCH_SESSIONS (100000), BENCH_SEED (1), BENCH_RUNS (3),
# BENCH_CONCURRENCY (200: sessions open at once in the throughput capture).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

agent=${TW_AGENT:-}
dir=${BENCH_DIR:-build/bench}
n=${BENCH_SESSIONS:-100000}
seed=${BENCH_SEED:-1}
runs=${BENCH_RUNS:-3}
conc=${BENCH_CONCURRENCY:-200}
small=$(( n / 10 > 0 ? n / 10 : 1 ))
gen="$here/gen_capture.py"
timebin=/usr/bin/time

die() { echo "bench: $*" >&2; exit 2; }
[ -n "$agent" ] || die "TW_AGENT is not set (path of tapwarden-agent)"
[ -x "$agent" ] || agent=$(command -v "$agent" 2>/dev/null) || die "TW_AGENT=$TW_AGENT is not executable"
for t in "$timebin" tcpdump tshark python3; do
	command -v "$t" >/dev/null || die "$t not found"
done
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# capture NAME SESSIONS CONCURRENCY: generate $dir/NAME.pcap (+ .json) unless
# it is newer than the generator.
capture() {
	local f="$dir/$1.pcap"
	if [ ! -s "$f" ] || [ ! -s "$f.json" ] || [ "$gen" -nt "$f" ]; then
		echo "bench: generating $f ($2 sessions, concurrency $3, seed $seed)" >&2
		python3 "$gen" --sessions "$2" --concurrency "$3" --seed "$seed" --out "$f.tmp" --meta "$f.json.tmp" \
			|| die "generator failed"
		mv "$f.tmp" "$f"
		mv "$f.json.tmp" "$f.json"
	fi
	echo "$f"
}

main_pcap=$(capture "smtp-$n-c$conc-s$seed" "$n" "$conc")
small_pcap=$(capture "smtp-$small-c$conc-s$seed" "$small" "$conc")
conc_pcap=$(capture "smtp-$n-c$n-s$seed" "$n" "$n")
for f in "$main_pcap" "$small_pcap" "$conc_pcap"; do
	[ -s "$f" ] && [ -s "$f.json" ] || die "no capture $f"
done

meta() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1.json" "$2"; }
main_bytes=$(meta "$main_pcap" bytes)
main_sessions=$(meta "$main_pcap" sessions)
small_bytes=$(meta "$small_pcap" bytes)

# measure LABEL RUNS CMD...: best wall time of RUNS runs and the largest
# peak RSS seen; sets m_secs and m_rss_mb (empty when the tool failed).
measure() {
	local label=$1 k=$2 i rc wall rss t0 t1
	shift 2
	m_secs= m_rss_mb=
	for (( i = 0; i < k; i++ )); do
		rc=0
		t0=$(date +%s%N)
		"$timebin" -v -o "$work/time" "$@" >/dev/null 2>"$work/err" || rc=$?
		t1=$(date +%s%N)
		if [ "$rc" -ne 0 ]; then
			echo "bench: $label failed (exit $rc): $*" >&2
			tail -n 5 "$work/err" >&2
			status=1
			m_secs= m_rss_mb=
			return 0
		fi
		# time(1) prints wall time to 10 ms only: take ns around it.
		wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time")
		if [ -z "$m_secs" ] || awk -v a="$wall" -v b="$m_secs" 'BEGIN { exit !(a < b) }'; then
			m_secs=$wall
		fi
		m_rss_mb=$(awk -v a="$rss" -v b="${m_rss_mb:-0}" 'BEGIN { a /= 1024; printf "%.1f", (a > b) ? a : b }')
	done
}

# Warm the page cache so the first tool does not pay for the disk.
cat "$main_pcap" "$small_pcap" "$conc_pcap" >/dev/null

rows=()
row() { # tool secs rss note
	local tool=$1 secs=$2 rss=$3 note=$4
	if [ -z "$secs" ]; then
		rows+=("$(printf '%-34s %9s %12s %9s %10s  %s' "$tool" FAILED - - - "$note")")
		return
	fi
	rows+=("$(awk -v t="$tool" -v s="$secs" -v n="$main_sessions" -v b="$main_bytes" -v r="$rss" -v note="$note" \
		'BEGIN { if (s <= 0) s = 0.001; printf "%-34s %9.2f %12.0f %9.1f %10s  %s", t, s, n / s, b / s / 1e6, r, note }')")
}

echo "bench: $(basename "$main_pcap"): $main_sessions sessions, $(meta "$main_pcap" messages) messages," \
	"$(meta "$main_pcap" packets) packets, $(awk -v b="$main_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB"

measure tcpdump "$runs" tcpdump -r "$main_pcap" -w /dev/null
td_secs=$m_secs; row "tcpdump -r F -w /dev/null" "$m_secs" "$m_rss_mb" "best of $runs"

measure agent "$runs" "$agent" --read "$main_pcap" --sessions /dev/null
ag_secs=$m_secs; row "tapwarden-agent --read F" "$m_secs" "$m_rss_mb" "best of $runs, every message parsed"

# The live agent parses message content for a sample of sessions and counts
# every session; these rows show what that costs.
measure "agent --sample 0.1" "$runs" "$agent" --read "$main_pcap" --sessions /dev/null --sample 0.1
ag10_secs=$m_secs; row "tapwarden-agent --sample 0.1" "$m_secs" "$m_rss_mb" "best of $runs, content of 10% of sessions"
measure "agent --sample 0" "$runs" "$agent" --read "$main_pcap" --sessions /dev/null --sample 0
ag0_secs=$m_secs; row "tapwarden-agent --sample 0" "$m_secs" "$m_rss_mb" "best of $runs, SMTP dialogue only"

measure tshark 1 tshark -r "$small_pcap" -Y smtp
ts_secs=
if [ -n "$m_secs" ]; then
	scale=$(awk -v a="$main_bytes" -v b="$small_bytes" 'BEGIN { printf "%.2f", a / b }')
	ts_secs=$(awk -v s="$m_secs" -v k="$scale" 'BEGIN { printf "%.3f", s * k }')
	row "tshark -r F -Y smtp" "$ts_secs" "$m_rss_mb" \
		"1 run on $(basename "$small_pcap") (${m_secs}s), scaled x$scale by bytes"
else
	row "tshark -r F -Y smtp" "" "" ""
fi

measure "agent (all sessions open)" 1 "$agent" --read "$conc_pcap" --sessions /dev/null
cc_secs=$m_secs cc_rss=$m_rss_mb
rows+=("$(if [ -n "$cc_secs" ]; then awk -v s="$cc_secs" -v r="$cc_rss" -v n="$n" \
	'BEGIN { printf "%-34s %9.2f %12.0f %9s %10s  %s", "agent, " n " concurrent sessions", s, n / s, "-", r, "1 run, capture with all SYNs first" }';
	else printf '%-34s %9s' "agent, $n concurrent sessions" FAILED; fi)")

# Does the agent see what was generated?  (Information only.)
check=""
if "$agent" --read "$small_pcap" --sessions "$work/small.jsonl" >/dev/null 2>&1; then
	check=$(python3 - "$work/small.jsonl" "$small_pcap.json" <<'EOF'
import json, sys
sess = msgs = tls = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    try:
        s = json.loads(line)
    except ValueError:
        continue
    sess += 1
    tls += bool(s.get("starttls"))
    for t in s.get("transactions") or []:
        c = t.get("data_code")
        msgs += isinstance(c, int) and 200 <= c < 300
m = json.load(open(sys.argv[2]))
print("agent on %d-session capture: sessions %d/%d, messages %d/%d, starttls %d/%d" %
      (m["sessions"], sess, m["sessions"], msgs, m["messages"], tls, m.get("starttls_sessions", 0)))
EOF
	)
fi

verdict() { # value op target
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? v <= t : (op == ">=") ? v >= t : v < t; print ok ? "PASS" : "MISS" }'
}

echo
printf '%-34s %9s %12s %9s %10s  %s\n' tool seconds sessions/s MB/s "peak RSS" notes
printf '%-34s %9s %12s %9s %10s\n' "" "" "" "" MB
for r in "${rows[@]}"; do echo "$r"; done
echo
ratio() { # label agent-secs
	[ -n "$2" ] && [ -n "$td_secs" ] || return 0
	x=$(awk -v a="$2" -v b="$td_secs" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 0.001) }')
	echo "agent/tcpdump time ratio, $1: $x (target <= 2.0) $(verdict "$x" "<=" 2.0)"
}
ratio "every message parsed" "$ag_secs"
ratio "--sample 0.1" "$ag10_secs"
ratio "--sample 0" "$ag0_secs"
if [ -n "$ts_secs" ] && [ -n "$ag_secs" ]; then
	x=$(awk -v a="$ts_secs" -v b="$ag_secs" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 0.001) }')
	echo "tshark/agent time ratio: $x (target >= 20) $(verdict "$x" ">=" 20)"
fi
if [ -n "$cc_rss" ]; then
	echo "memory with $n concurrent sessions: $cc_rss MB (target < 200) $(verdict "$cc_rss" "<" 200)"
fi
[ -z "$check" ] || echo "$check"
exit $status
