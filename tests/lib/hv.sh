# SPDX-License-Identifier: MIT
# A simulated hypervisor for the tests that run agents with real
# enforcement (bus, web): a namespace with a bridge, an SMTP sink behind
# it, guests on veth "taps", libvirt test-driver domains, and checks of
# the kernel's nftables set and of a guest's SMTP.  Sourced after
# tests/integration/lib.sh (ns_new, wait_until, tcp_listening, TW_PIDS);
# uses ROOT and WORK.
elems_vm() { ip netns exec "$1" nft -j list set netdev tapwarden blocked 2>/dev/null |
	python3 -c 'import json,sys
n = 0
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        if isinstance(e, dict) and "elem" in e and e["elem"].get("comment", "").startswith("vm=" + sys.argv[1]):
            n += 1
print(n)' "$2"; }
smtp_ok() { timeout 10 ip netns exec "$1" python3 -c 'import smtplib,sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=3); s.ehlo("probe.tw.test"); s.quit()' "$2" 2>/dev/null; }
burst() { timeout 120 ip netns exec "$1" python3 "$ROOT/tests/live/send.py" "$2" 200 4 "promo@$1.test" --same --until-blocked "${@:3}"; }
# json_get PATH: the value at PATH (keys and list indexes, dot-separated) of
# the JSON on stdin; empty when a key or an index is not there (no trace:
# callers poll with it), nothing and exit 1 when stdin is not JSON
json_get() { python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for k in sys.argv[1].split("."):
    if isinstance(d, list):
        d = d[int(k)] if k.isdigit() and int(k) < len(d) else None
    else:
        d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d if not isinstance(d, bool) else str(d).lower())' "$1"; }
domain() { # name uuid mac tap
	cat <<EOF
  <domain type='test'>
    <name>$1</name><uuid>$2</uuid><memory>131072</memory><os><type>hvm</type></os>
    <devices><interface type='ethernet'><mac address='$3'/><target dev='$4'/></interface></devices>
  </domain>
EOF
}
hypervisor() { # ns sinkns net(198.18.x)
	ns_new "$1" && ns_new "$2" || return 1
	hv_bridge "$1" "$2" "$3.1/24" || return 1
	ip netns exec "$2" smtp-sink -u postfix "$3.1:25" 64 >"$WORK/sink-$2.log" 2>&1 &
	TW_PIDS+=("$!")
	wait_until 10 tcp_listening "$2" "$3.1" 25
}
guest_on() { # hvns guestns tap mac addr
	ip -n "$1" link add "$3" type veth peer name eth0 netns "$2" || return 1
	ip -n "$2" link set eth0 address "$4" up && ip -n "$2" addr add "$5/24" dev eth0 &&
		ip -n "$1" link set "$3" master br0 up
}

