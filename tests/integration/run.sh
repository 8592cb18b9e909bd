#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of tapwarden-agent's offline mode against real SMTP traffic.
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/integration/run.sh   (as root)
#
# Builds a small "hypervisor" of network namespaces (lib.sh), runs a private
# Postfix and three smtp-sink servers in the server namespace, drives real
# clients (swaks, curl, Python smtplib, smtp-source) from the guest
# namespaces, captures every case with tcpdump on the server's bridge port,
# runs `tapwarden-agent --read CAPTURE --sessions OUT` and compares the
# sessions with what the case sent (cases.py, check_sessions.py).  Then runs
# the agent on adversarial pcaps (hostile.py) under time and memory bounds.
#
# One PASS/FAIL line per case; exit status 1 if any case failed.
# Environment: TW_CASES=REGEX runs only matching cases; TW_KEEP=1 keeps the
# work directory (captures, agent output, server logs) for inspection.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

if [[ -z "${TW_AGENT:-}" || ! -x "${TW_AGENT}" ]]; then
	echo "integration: TW_AGENT must name the tapwarden-agent binary (got '${TW_AGENT:-}')" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "integration: must run as root (network namespaces)" >&2
	exit 2
fi
for tool in ip ss tcpdump tshark swaks curl msmtp smtp-sink smtp-source postfix openssl python3 timeout; do
	command -v "$tool" >/dev/null || { echo "integration: missing tool: $tool" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "integration: missing /usr/bin/time (package: time)" >&2; exit 2; }

CASES_SEL=${TW_CASES:-.}
WORK=$(mktemp -d /tmp/tw-integration.XXXXXX)
chmod 755 "$WORK"
TAG="twit$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-srv" NS_G1="$TAG-g1" NS_G2="$TAG-g2"
PASSED=0
FAILED=0
FAILED_NAMES=()
T0=$(date +%s)

finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then
		tw_log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() {
	echo "FAIL $1${2:+: $2}"
	FAILED=$((FAILED + 1))
	FAILED_NAMES+=("$1")
}

# show_log FILE: the tail of a log, indented, for a FAIL report.
show_log() { [[ -s "$1" ]] && tail -n "${2:-15}" "$1" | sed 's/^/    | /'; return 0; }

# ---- clients, one function per case (argument: the case directory) ---------------
# Each returns non-zero when the client itself failed.

G() { timeout 60 ip netns exec "$NS_G1" "$@"; }     # run in guest 1
G2() { timeout 60 ip netns exec "$NS_G2" "$@"; }    # run in guest 2

client_pf_swaks_pipeline() {
	local h hdrs=()
	while IFS= read -r h; do hdrs+=(--header "$h"); done <"$1/swaks_headers"
	G swaks --server 198.18.0.1 --helo g1.tw.test --from news@g1.tw.test \
		--to a@ext.test,nosuchuser@tw.test,b@ext.test --pipeline --timeout 20 \
		--data "@$1/msg.eml" "${hdrs[@]}"
}
client_pf_starttls() {
	G swaks --server 198.18.0.1 --helo tls.g1.tw.test --from x@g1.tw.test --to y@ext.test \
		--tls --tls-sni mx.tw.test --timeout 20 --data "@$1/msg.eml"
}
client_pf_curl() {
	G2 curl -sS --max-time 30 --url smtp://198.18.0.1:25/curl.g2.tw.test \
		--mail-from billing@g2.tw.test --mail-rcpt r1@ext.test --mail-rcpt r2@ext.test \
		--upload-file "$1/msg.eml"
}
client_pf_py_ipv6() { G python3 "$HERE/cases.py" client pf_py_ipv6 "$1"; }
client_pf_py_rset() { G python3 "$HERE/cases.py" client pf_py_rset "$1"; }
client_pf_py_noquit() { G python3 "$HERE/cases.py" client pf_py_noquit "$1"; }
client_pf_py_rst() { G2 python3 "$HERE/cases.py" client pf_py_rst "$1"; }
client_pf_blocklisted() {
	# swaks exits 24 when no recipient was accepted: that is the point here.
	G2 swaks --server 198.18.0.1 --local-interface 198.18.0.4 --helo bl.g2.tw.test \
		--from bulk@g2.tw.test --to victim@ext.test --timeout 20 --data "@$1/msg.eml"
	[[ $? == 24 ]]
}
client_pf_bdat() { G python3 "$HERE/cases.py" client pf_bdat "$1"; }
client_pf_rcpt_before_mail() { G2 python3 "$HERE/cases.py" client pf_rcpt_before_mail "$1"; }
client_pf_truncated() {
	# The client stays connected until the capture has stopped.
	timeout 60 ip netns exec "$NS_G2" python3 "$HERE/cases.py" client pf_truncated "$1" &
	local pid=$!
	local ok=0
	wait_until 15 test -e "$1/ready" || ok=1
	capture_stop open || ok=1
	touch "$1/go"
	wait "$pid" || ok=1
	CAPTURE_STOPPED=1
	return $ok
}
client_sink_dotstuff() {
	G2 swaks --server 198.18.0.11 --helo dots.g2.tw.test --from dots@g2.tw.test --to r@ext.test \
		--timeout 20 --data "@$1/msg.eml"
}
client_sink_msmtp() {
	G msmtp --host=198.18.0.11 --port=25 --auth=off --tls=off --timeout=20 \
		--domain=msmtp.g1.tw.test --from=m@g1.tw.test r@ext.test r2@ext.test <"$1/msg.eml"
}
client_sink_bigbody() {
	G swaks --server 198.18.0.11 --helo big.g1.tw.test --from big@g1.tw.test --to r@ext.test \
		--timeout 30 --data "@$1/msg.eml"
}
client_sink_greylist() {
	G2 swaks --server 198.18.0.12 --helo grey.g2.tw.test --from grey@g2.tw.test --to r@ext.test \
		--timeout 20 --data "@$1/msg.eml"
	[[ $? == 24 ]]
}
client_sink_421() { G python3 "$HERE/cases.py" client sink_421 "$1"; }
client_sink_burst() {
	G2 smtp-source -s 4 -m 20 -M burst.g2.tw.test -f bulk@g2.tw.test -t r@ext.test \
		-F "$1/msg.txt" 198.18.0.11:25
}

# ---- one case ---------------------------------------------------------------------

# run_agent DIR: the agent on DIR/capture.pcap, to a file and (OUT "-") to
# stdout; both outputs must be the same bytes.
run_agent() {
	local d=$1
	timeout 60 "$TW_AGENT" --read "$d/capture.pcap" --sessions "$d/out.jsonl" \
		>"$d/agent.out" 2>"$d/agent.err" || return
	timeout 60 "$TW_AGENT" --read "$d/capture.pcap" --sessions - \
		>"$d/stdout.jsonl" 2>>"$d/agent.err" || return
	if ! cmp -s "$d/out.jsonl" "$d/stdout.jsonl"; then
		echo "--sessions - wrote other bytes than --sessions FILE" >>"$d/agent.err"
		return 99
	fi
}

run_case() {
	local name=$1 d="$WORK/$1"
	mkdir -p "$d"
	if ! python3 "$HERE/cases.py" prep "$name" "$d" >"$d/prep.log" 2>&1; then
		fail "$name" "cannot prepare the case"; show_log "$d/prep.log"; return
	fi
	# Nothing of an earlier case may still be on the wire.
	wait_until 20 sessions_closed || tw_log "$name: earlier sessions still open"
	if ! capture_start "$d/capture.pcap"; then
		fail "$name" "tcpdump did not start"; return
	fi
	CAPTURE_STOPPED=0
	local crc=0
	"client_$name" "$d" >"$d/client.log" 2>&1 || crc=$?
	if [[ $CAPTURE_STOPPED == 0 ]]; then
		capture_stop || { fail "$name" "capture did not complete"; return; }
	fi
	if [[ $crc != 0 ]]; then
		fail "$name" "the SMTP client failed (exit $crc)"; show_log "$d/client.log"; return
	fi
	local arc=0
	run_agent "$d" || arc=$?
	if [[ $arc != 0 ]]; then
		fail "$name" "tapwarden-agent exited with $arc"; show_log "$d/agent.err"; return
	fi
	local out
	if out=$(python3 "$HERE/check_sessions.py" --case "$name" --expected "$d/expected.json" \
			--sessions "$d/out.jsonl" --pcap "$d/capture.pcap" 2>&1); then
		echo "$out"
		PASSED=$((PASSED + 1))
	else
		echo "$out"
		[[ "$out" == FAIL* ]] || echo "FAIL $name: checker error"
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name")
	fi
}

# ---- hostile pcaps ------------------------------------------------------------------

HOSTILE_RSS_KB=$((300 * 1024))
HOSTILE_TIMEOUT=60

run_hostile() {
	local d="$WORK/hostile" f name rc rss
	mkdir -p "$d"
	if ! python3 "$HERE/hostile.py" "$d" >"$d/gen.log" 2>&1; then
		fail hostile "cannot generate the pcaps"; show_log "$d/gen.log"; return
	fi
	for f in "$d"/*.pcap "$d"/*.bin; do
		[[ -e "$f" ]] || continue
		name="hostile_$(basename "${f%.*}")"
		[[ "$name" =~ $CASES_SEL ]] || continue
		local extra=()
		mapfile -t extra < <(python3 "$HERE/hostile.py" --args "$f")
		rc=0
		timeout "$HOSTILE_TIMEOUT" /usr/bin/time -v -o "$f.time" \
			"$TW_AGENT" --read "$f" --sessions "$f.jsonl" "${extra[@]}" >"$f.out" 2>"$f.err" || rc=$?
		rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$f.time" 2>/dev/null)
		local out
		out=$(python3 "$HERE/hostile.py" --check "$f" --rc "$rc" --rss-kb "${rss:-0}" \
			--max-rss-kb "$HOSTILE_RSS_KB" --timeout "$HOSTILE_TIMEOUT" 2>&1)
		local crc=$?
		echo "$out"
		if [[ $crc == 0 ]]; then
			PASSED=$((PASSED + 1))
		else
			[[ "$out" == FAIL* ]] || echo "FAIL $name: checker error"
			show_log "$f.err" 5
			FAILED=$((FAILED + 1))
			FAILED_NAMES+=("$name")
		fi
	done
}

# ---- main -------------------------------------------------------------------------

net_cases=()
for c in $(python3 "$HERE/cases.py" list); do
	[[ "$c" =~ $CASES_SEL ]] && net_cases+=("$c")
done

if (( ${#net_cases[@]} > 0 )); then
	setup_ok=1
	topology_up || { fail setup "network namespaces"; setup_ok=0; }
	if (( setup_ok )); then
		postfix_setup "$WORK/postfix" && postfix_start "$WORK/postfix" ||
			{ fail setup "postfix did not start"; show_log "$WORK/postfix/maillog"; setup_ok=0; }
	fi
	if (( setup_ok )); then
		sink_start accept 198.18.0.11 -h sink.tw.test &&
		sink_start grey 198.18.0.12 -h grey.tw.test -r RCPT \
			-b "451 4.7.1 Greylisted, try again later" &&
		sink_start drop 198.18.0.13 -h drop.tw.test -Q MAIL ||
			{ fail setup "smtp-sink did not start"; setup_ok=0; }
	fi
	if (( setup_ok )); then
		for c in "${net_cases[@]}"; do
			run_case "$c"
		done
	fi
	tw_cleanup_all
fi

run_hostile

echo "integration: $PASSED passed, $FAILED failed ($(( $(date +%s) - T0 )) s)${FAILED_NAMES[*]:+; failed: ${FAILED_NAMES[*]}}"
(( FAILED == 0 ))
