#!/bin/bash
# SPDX-License-Identifier: MIT
# Enforcement speed (part of make bench; root), each figure in a network
# namespace made for it:
#   1. 10,000 blocks installed and removed, one transaction each, through the
#      agent's module (nftbulk) against `nft -f` with the same elements
#      (target: no slower than nft -f);
#   2. latency of one block from the call to the kernel's ACK, chain and
#      element (target under 5 ms), over 200 blocks;
#   3. per-packet cost of the drop rule: tcpreplay --topspeed of small TCP
#      frames to port 80 from a guest whose tap carries the chain, with 1 and
#      with 10,001 blocked VMs in the set, against no table at all.
#
#   TW_NFTBULK=/abs/path/nftbulk bash tests/enforce/bench.sh
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/tests/integration/lib.sh"
N=${BENCH_BLOCKS:-10000}
[[ -x "${TW_NFTBULK:-}" ]] || { echo "bench-enforce: TW_NFTBULK must name nftbulk" >&2; exit 2; }
for t in nft tcpreplay python3; do command -v "$t" >/dev/null || { echo "bench-enforce: needs $t" >&2; exit 2; }; done
WORK=$(mktemp -d /tmp/tw-enfbench.XXXXXX)
TAG="twbe$$"
trap 'tw_cleanup_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
tw_log() { printf '%s\n' "bench-enforce: $*" >&2; }
secs() { python3 -c 'import sys,time; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
now() { date +%s.%N; }

# ---- 1. 10,000 blocks: module vs nft -f ------------------------------------------
ns_new "$TAG-m" && ns_new "$TAG-n" || exit 1
mod=$(ip netns exec "$TAG-m" "$TW_NFTBULK" "$N") || { tw_log "nftbulk failed: $mod"; exit 1; }
python3 - "$N" "$WORK" <<'EOF'
import sys
n, w = int(sys.argv[1]), sys.argv[2]
hdr = ("table netdev tapwarden {\n  set blocked { type iface_index; flags timeout; }\n"
       "  set ports { type inet_service; elements = { 25 } }\n}\n")
add = ",\n".join('%d timeout 1h comment "vm=%08x-0000-4000-8000-000000000000 auto bulk"' % (1000000 + i, i) for i in range(n))
dele = ",\n".join(str(1000000 + i) for i in range(n))
open(w + "/table.nft", "w").write(hdr)
open(w + "/add.nft", "w").write("add element netdev tapwarden blocked {\n" + add + "\n}\n")
open(w + "/del.nft", "w").write("delete element netdev tapwarden blocked {\n" + dele + "\n}\n")
EOF
ip netns exec "$TAG-n" nft -f "$WORK/table.nft" || exit 1
t0=$(now); ip netns exec "$TAG-n" nft -f "$WORK/add.nft" || exit 1; t1=$(now)
got=$(ip netns exec "$TAG-n" nft list set netdev tapwarden blocked | grep -o 'timeout 1h' | wc -l)
t2=$(now); ip netns exec "$TAG-n" nft -f "$WORK/del.nft" || exit 1; t3=$(now)
nft_add=$(secs "$t0" "$t1") nft_del=$(secs "$t2" "$t3")
mod_add=$(sed -n 's/.* in one transaction in \([0-9.]*\) s,.*/\1/p' <<<"$mod")
mod_del=$(sed -n 's/.*removed them in one in \([0-9.]*\) s.*/\1/p' <<<"$mod")
echo "bench-enforce: $N blocks, one transaction each: module install ${mod_add} s, remove ${mod_del} s; nft -f install ${nft_add} s ($got listed), remove ${nft_del} s"
ratio=$(python3 -c 'import sys; a,b,c,d = map(float, sys.argv[1:]); print("%.2f %.2f" % (a / b if b else 0, c / d if d else 0))' "$mod_add" "$nft_add" "$mod_del" "$nft_del")
echo "bench-enforce: module/nft -f time ratio: install ${ratio% *}, remove ${ratio#* } (target <= 1: $(python3 -c 'import sys; print("PASS" if max(map(float, sys.argv[1:])) <= 1 else "MISS")' $ratio))"

# ---- 2. single block latency --------------------------------------------------------------
ns_new "$TAG-l" || exit 1
ip -n "$TAG-l" link add tapl0 type veth peer name gstl0 && ip -n "$TAG-l" link set tapl0 up && ip -n "$TAG-l" link set gstl0 up || exit 1
lat=$(ip netns exec "$TAG-l" "$TW_NFTBULK" latency tapl0 200) || { tw_log "latency failed: $lat"; exit 1; }
echo "bench-enforce: ${lat#nftbulk: } (target median < 5 ms: $(awk '{ for (i = 1; i <= NF; i++) if ($i == "median") print ($(i + 1) < 5) ? "PASS" : "MISS" }' <<<"$lat"))"

# ---- 3. per-packet cost of the chain --------------------------------------------------------
python3 - "$WORK/frames.pcap" <<'EOF'
import struct, sys
# 200,000 minimal TCP SYNs 198.18.4.2 -> 198.18.4.1:80, Ethernet, pcap
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
eth = bytes.fromhex("525400aa0001525400bb0001") + b"\x08\x00"
for i in range(200000):
    tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, 80, i, 0, 5 << 4, 2, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, bytes([198, 18, 4, 2]), bytes([198, 18, 4, 1]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    f = eth + ip + tcp
    out.write(struct.pack("<IIII", i // 100000, i % 100000 * 10, len(f), len(f)) + f)
EOF
ns_new "$TAG-p" || exit 1
ip -n "$TAG-p" link add tapp0 type veth peer name gstp0 && ip -n "$TAG-p" link set tapp0 up && ip -n "$TAG-p" link set gstp0 up || exit 1
IDX=$(ip netns exec "$TAG-p" cat /sys/class/net/tapp0/ifindex)
# best of 3 replays from the guest's end; prints frames/s
rate() {
	local best=0 r i
	for i in 1 2 3; do
		r=$(timeout 120 ip netns exec "$TAG-p" tcpreplay -i gstp0 --topspeed "$WORK/frames.pcap" 2>&1 |
			awk '/Rated:/ { for (k = 1; k <= NF; k++) if ($k == "pps") print int($(k - 1)) }')
		(( ${r:-0} > best )) && best=$r
	done
	echo "$best"
}
none=$(rate)
ip netns exec "$TAG-p" nft -f - <<EOF || exit 1
table netdev tapwarden {
  set blocked { type iface_index; flags timeout; elements = { $IDX timeout 1h } }
  set ports { type inet_service; elements = { 25 } }
  chain tap$IDX {
    type filter hook ingress device "tapp0" priority -500; policy accept;
    meta iif @blocked meta l4proto tcp th dport @ports counter drop
    meta iif @blocked meta protocol 0x8100 counter drop
    meta iif @blocked meta protocol 0x88a8 counter drop
  }
}
EOF
one=$(rate)
fill=$(ip netns exec "$TAG-p" "$TW_NFTBULK" fill "$N") || { tw_log "fill failed: $fill"; exit 1; }
many=$(rate)
echo "bench-enforce: frames/s through a blocked VM's tap (port 80, passes the chain): no table $none, chain + 1 blocked VM $one, chain + $((N + 1)) blocked VMs $many"
python3 -c 'import sys; n, o, m = map(float, sys.argv[1:4]); print("bench-enforce: relative to no table: 1 blocked %.2f, %s blocked %.2f (other VMs taps carry no chain: cost 0)" % (o / n, sys.argv[4], m / n))' "$none" "$one" "$many" "$((N + 1))"
