#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Detection scenarios: replay captures through tapwarden-agent --verdicts
# with policies/default.yaml and assert the verdicts per VM.
#  1. synth-spam-spike.pcap: guest .5 (volume spike) is blocked; .6-.9 (the
#     same "Crypto opportunity" mail, 20 each in one minute) alert at least;
#     baseline guests .2/.3/.4 stay ok.  Prints seconds from the first spam
#     message to the block.
#  2. gen_scenario.py: a transactional guest at 40/hour stays ok; a
#     whitelisted newsletter is never blocked; the same newsletter from a VM
#     that is not whitelisted is blocked.
set -euo pipefail
agent=${TW_AGENT:-build/tapwarden-agent}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pol=(--policy policies/default.yaml --replies policies/replies.yaml)

"$agent" -n "${pol[@]}" --vm-map "$here/map-spike.json" >/dev/null
"$agent" --read tests/golden/corpus/synthetic/pcaps/synth-spam-spike.pcap \
	--vm-map "$here/map-spike.json" "${pol[@]}" \
	--sessions "$work/spike.sessions" --verdicts "$work/spike.verdicts" 2>"$work/spike.log"
python3 "$here/gen_scenario.py" "$work/scen.pcap"
"$agent" --read "$work/scen.pcap" --vm-map "$here/map-scenario.json" "${pol[@]}" \
	--verdicts "$work/scen.verdicts" 2>"$work/scen.log"
python3 "$here/check.py" "$work/spike.sessions" "$work/spike.verdicts" "$work/scen.verdicts"
