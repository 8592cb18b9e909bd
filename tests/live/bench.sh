#!/bin/bash
# SPDX-License-Identifier: MIT
# Live capture throughput (not part of make check; root):
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/live/bench.sh [SESSIONS] [MBPS|topspeed]
#
# Generates a capture of SESSIONS realistic SMTP sessions
# (tests/bench/gen_capture.py), replays it with tcpreplay into guest A's
# end of tapa0 while the agent runs live in the hv namespace, then reports
# the replay rate, frames the agent read, kernel drops (pcap_stats), and the
# messages /metrics counted against an offline --read of the same file.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/tests/integration/lib.sh"
N=${1:-20000}
RATE=${2:-topspeed}
[[ -x "${TW_AGENT:-}" ]] || { echo "bench: TW_AGENT must name the agent" >&2; exit 2; }
command -v tcpreplay >/dev/null || { echo "bench: needs tcpreplay" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tw-livebench.XXXXXX)
TAG="twlb$$" NS_HV="$TAG-hv" NS_A="$TAG-ga"
METRICS=127.0.0.1:9187
trap 'tw_cleanup_all; [[ -n "${TW_KEEP:-}" ]] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
tw_log() { printf '%s\n' "bench: $*" >&2; }
metrics() { ip netns exec "$NS_HV" curl -sf --max-time 5 "http://$METRICS/metrics"; }
metric() { metrics | awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $NF; exit }'; }
metric_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }

python3 "$ROOT/tests/bench/gen_capture.py" -n "$N" --vlan-frac 0 -o "$WORK/cap.pcap" >/dev/null || exit 1
frames=$(tcpdump -r "$WORK/cap.pcap" -nn 2>/dev/null | wc -l)
offline=$("$TW_AGENT" --read "$WORK/cap.pcap" --sessions - 2>/dev/null |
	python3 -c 'import json,sys; print(sum(sum(1 for t in json.loads(l)["transactions"] if t.get("complete")) for l in sys.stdin))')
ns_new "$NS_HV" && ns_new "$NS_A" || exit 1
ip -n "$NS_HV" link add tapa0 type veth peer name eth0 netns "$NS_A" &&
	ip -n "$NS_HV" link set tapa0 mtu 65000 up && ip -n "$NS_A" link set eth0 mtu 65000 up || exit 1
# (jumbo MTU: the generated capture has TSO-sized segments that tcpreplay
# could not send on a 1500-byte link)
ip netns exec "$NS_HV" "$TW_AGENT" --libvirt "test://$HERE/node.xml" --metrics "$METRICS" \
	--capture-buffer "${CAPBUF:-67108864}" --max-flows 65536 >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
TW_PIDS+=("$AGENT_PID")
wait_until 10 metric_is tapwarden_capture_up 'tap="tapa0"' 1 || { cat "$WORK/agent.log"; exit 1; }
if [[ "$RATE" == topspeed ]]; then rate=(--topspeed); else rate=(--mbps "$RATE"); fi
ip netns exec "$NS_A" tcpreplay -i eth0 "${rate[@]}" "$WORK/cap.pcap" >"$WORK/replay.log" 2>&1 || { cat "$WORK/replay.log"; exit 1; }
# the last sessions end when the agent stops (flush): stop it, then read the log
read_all() { local r d; r=$(metric tapwarden_capture_frames_total 'tap="tapa0"'); d=$(metric tapwarden_capture_drops_total 'tap="tapa0"'); (( r + d >= frames )); }
wait_until 20 read_all
got=$(metric tapwarden_capture_frames_total 'tap="tapa0"')
drops=$(metric tapwarden_capture_drops_total 'tap="tapa0"')
msgs_live=$(metric tapwarden_vm_messages_total 'name="live-a"')
stop_pid "$AGENT_PID" TERM 20
echo "bench: $N sessions, $frames frames; tcpreplay: $(grep -E 'Actual:|Rated:' "$WORK/replay.log" | tr -s ' \t' ' ' | tr '\n' ' ')"
msgs_final=$(grep -o 'tap closed tap=tapa0 .* messages=[0-9]*' "$WORK/agent.log" | grep -o '[0-9]*$')
echo "bench: agent read $got frames, kernel drops $drops; messages counted live: $msgs_live before stop, $msgs_final after (open sessions flushed); offline --read of the same file: $offline"
grep -E "agent: stopped|tap closed tap=tapa0" "$WORK/agent.log"
