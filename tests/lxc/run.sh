#!/bin/bash
# SPDX-License-Identifier: MIT
# The live agent against a real libvirtd with LXC guests (as root):
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/lxc/run.sh
#
# Lifecycle events here come from another process, as on a hypervisor.  A
# "hypervisor" namespace holds br0 and smtp-sink's port (198.18.2.1); the
# test starts virtlogd and libvirtd in it (no systemd; see
# ../shared/NOTES.md for the cgroup workaround), and the agent attaches to
# lxc:///system read-only.  Guests are transient LXC domains whose real
# vnetN veths libvirt puts on br0; they run swaks and Python inside.
#   1. guest A starts (vnet0), sends a burst of identical messages: block
#      verdict for A's UUID, enforced (nftables in the hv namespace: A's
#      next connection fails), /metrics counts exactly what got out;
#   2. A is destroyed: the agent closes A's tap on libvirt's event;
#   3. libvirtd restarts (its vnetN numbering starts again): the agent
#      reconnects on its periodic re-sync (--resync-interval 5);
#   4. guest B starts and gets A's old tap name vnet0; it sends 3
#      transactional messages (its SMTP works: A's block did not pass to
#      the name): B counts exactly 3, has no verdict, and A's figures and
#      block are unchanged: nothing leaked between the two VMs that shared
#      the name.
# Only one libvirtd can run per machine (/run/libvirt is fixed): the test
# refuses to start when one is running.  Every wait is bounded; cleanup
# destroys the domains and stops every process by PID.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"
# shellcheck source=../lib/libvirt.sh
source "$ROOT/tests/lib/libvirt.sh"

tw_require lxc TW_AGENT -- libvirtd virtlogd virsh nsenter unshare smtp-sink swaks curl
libvirtd_free lxc

WORK=$(mktemp -d /tmp/tw-lxc.XXXXXX)
chmod 755 "$WORK"
TAG="twlx$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-srv"
URI=lxc:///system
UUID_A=aaaaaaaa-2222-4000-8000-00000000000a
UUID_B=bbbbbbbb-2222-4000-8000-00000000000b
DOM_A="$TAG-a" DOM_B="$TAG-b"
METRICS=127.0.0.1:9188
N_A=120 N_B=3
FAILED=0
LIBVIRTD_PID= VIRTLOGD_PID=

virsh_q() { timeout 30 virsh -q -c "$URI" "$@"; }

finish() {
	local rc=$?
	for d in "$DOM_A" "$DOM_B"; do virsh_q destroy "$d" >/dev/null 2>&1; done
	[[ -n "${AGENT_PID:-}" ]] && stop_pid "$AGENT_PID" TERM 10
	[[ -n "$LIBVIRTD_PID" ]] && stop_pid "$LIBVIRTD_PID" TERM 10
	[[ -n "$VIRTLOGD_PID" ]] && stop_pid "$VIRTLOGD_PID" TERM 5
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

tw_log() { printf '%s\n' "lxc: $*" >&2; }
libvirt_up() { virsh -c "$URI" version >/dev/null 2>&1; }
reconnected() { metrics | grep -qE '^tapwarden_vmmap_reconnects_total [1-9]'; }

# libvirtd in the hv namespace's network, with a mount namespace of its own
# where the cgroup2 mount that breaks container start is not visible.
start_libvirtd() {
	rm -f "$WORK/libvirtd.pid"
	nsenter --net="/run/netns/$NS_HV" unshare -m --propagation slave \
		sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec libvirtd -d -p "$1"' sh "$WORK/libvirtd.pid" ||
		return 1
	wait_until 30 libvirt_up || return 1
	LIBVIRTD_PID=$(pidfile_pid "$WORK/libvirtd.pid")
	[[ -n "$LIBVIRTD_PID" ]]
}

# domain NAME UUID MAC ADDR: a transient LXC guest on br0 sharing the
# host's filesystem (so swaks and Python run inside it).
domain() {
	cat >"$WORK/$1.xml" <<EOX
<domain type='lxc'>
  <name>$1</name>
  <uuid>$2</uuid>
  <metadata><tw:vm xmlns:tw="https://tapwarden.example/xmlns/1"><plan>vps-s</plan></tw:vm></metadata>
  <memory>262144</memory>
  <os><type>exe</type><init>/bin/sh</init></os>
  <devices>
    <console type='pty'/>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$3'/>
      <ip address='$4' prefix='24'/>
    </interface>
  </devices>
</domain>
EOX
	virsh_q create "$WORK/$1.xml" >/dev/null
}
in_guest() { local d=$1; shift; timeout 120 virsh -q -c "$URI" lxc-enter-namespace "$d" --noseclabel -- "$@"; }
tap_of() { virsh_q domiflist "$1" 2>/dev/null | awk '$2 == "bridge" { print $1; exit }'; }

# ---- topology and libvirt ----------------------------------------------------------
mkdir -p /var/log/libvirt /run/libvirt
ns_new "$NS_HV" && ns_new "$NS_SRV" || { tw_log "cannot make namespaces"; exit 1; }
hv_bridge "$NS_HV" "$NS_SRV" 198.18.2.1/24 || { tw_log "cannot make the bridge"; exit 1; }
sink_start sink 198.18.2.1 || { tw_log "smtp-sink did not start"; exit 1; }
virtlogd_start "$NS_HV" || { tw_log "virtlogd did not start"; exit 1; }
if start_libvirtd; then
	pass "libvirtd (LXC driver) answers, pid $LIBVIRTD_PID"
else
	fail "libvirtd start" "$(tail -n 5 /var/log/libvirt/libvirtd.log 2>/dev/null)"; exit 1
fi

# ---- the agent ---------------------------------------------------------------------------
ip netns exec "$NS_HV" "$TW_AGENT" --libvirt "$URI" --resync-interval 5 \
	--policy "$ROOT/policies/default.yaml" --replies "$ROOT/policies/replies.yaml" \
	--verdicts "$WORK/verdicts.jsonl" --metrics "$METRICS" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_until 20 metrics_up || { fail "agent start"; show_agent_log; exit 1; }

# ---- guest A: a burst on vnet0 -----------------------------------------------------------
domain "$DOM_A" "$UUID_A" 52:54:00:2a:00:01 198.18.2.2 || { fail "create guest A"; exit 1; }
TAP_A=$(tap_of "$DOM_A")
if [[ -n "$TAP_A" ]] && wait_until 10 metric_is tapwarden_capture_up "tap=\"$TAP_A\",vm=\"$UUID_A\"" 1; then
	pass "guest A started on $TAP_A; the agent opened it from libvirt's event"
else
	fail "guest A's tap ($TAP_A) not captured"; show_agent_log; exit 1
fi
if out=$(in_guest "$DOM_A" /usr/bin/python3 "$ROOT/tests/live/send.py" 198.18.2.1 "$N_A" 4 promo@a.tw.test --same --until-blocked 2>&1) &&
	[[ "$out" =~ ^[0-9]+$ ]] && (( out > 0 )); then
	pass "guest A sent a burst from inside the container: $out of $N_A messages got out"
else
	fail "guest A client" "$out"
fi
N_A=${out:-0}
# at least what the client saw accepted; a session the block cut may have
# had one more DATA accepted by the server than the client waited for
a_counted() { local m; m=$(metric tapwarden_vm_messages_total "vm=\"$UUID_A\""); [[ -n "$m" ]] && (( m >= N_A && m <= N_A + 4 )); }
a_smtp_fails() { ! in_guest "$DOM_A" /usr/bin/python3 -c 'import smtplib
smtplib.SMTP("198.18.2.1", 25, timeout=3).quit()' >/dev/null 2>&1; }
if wait_until 30 verdict_for "$UUID_A" block && wait_until 5 metric_is tapwarden_vm_blocked "vm=\"$UUID_A\"" 1 &&
	a_smtp_fails &&
	ip netns exec "$NS_HV" nft list chain netdev tapwarden "tap$(ip netns exec "$NS_HV" cat /sys/class/net/"$TAP_A"/ifindex)" >/dev/null 2>&1; then
	pass "guest A: block verdict enforced (chain on $TAP_A): its next SMTP connection fails"
else
	fail "guest A verdict" "messages $(metric tapwarden_vm_messages_total "vm=\"$UUID_A\"")"; show_agent_log
fi

# ---- A stops, libvirtd restarts, B gets the same tap name ------------------------------------
virsh_q destroy "$DOM_A" >/dev/null
if wait_until 10 log_has "tap closed tap=$TAP_A vm=$UUID_A .*why=unmapped" &&
	metric_is tapwarden_vm_taps "vm=\"$UUID_A\"" 0 && metric_is tapwarden_vm_blocked "vm=\"$UUID_A\"" 1 &&
	! ip netns exec "$NS_HV" nft list table netdev tapwarden | grep -q "chain tap"; then
	pass "guest A destroyed: tap closed on libvirt's event; A stays blocked, nothing left in the kernel for its old tap"
else
	fail "guest A stop not seen"; show_agent_log
fi
# sessions the block cut end when their tap closes: now every one is counted
if a_counted; then
	pass "guest A: $(metric tapwarden_vm_messages_total "vm=\"$UUID_A\"") messages counted ($N_A accepted as its client saw it)"
else
	fail "guest A count" "$(metric tapwarden_vm_messages_total "vm=\"$UUID_A\"") for $N_A sent"
fi
A_FINAL=$(metric tapwarden_vm_messages_total "vm=\"$UUID_A\"")
stop_pid "$LIBVIRTD_PID" TERM 15
LIBVIRTD_PID=
if start_libvirtd && wait_until 30 reconnected; then
	pass "libvirtd restarted; the agent reconnected (periodic re-sync)"
else
	fail "agent reconnect after the libvirtd restart"; show_agent_log; exit 1
fi
domain "$DOM_B" "$UUID_B" 52:54:00:2b:00:01 198.18.2.3 || { fail "create guest B"; exit 1; }
TAP_B=$(tap_of "$DOM_B")
if [[ "$TAP_B" == "$TAP_A" ]]; then
	pass "guest B got guest A's old tap name $TAP_B"
else
	fail "guest B's tap is $TAP_B, not A's $TAP_A: the reuse case was not produced"
fi
if wait_until 15 metric_is tapwarden_capture_up "tap=\"$TAP_B\",vm=\"$UUID_B\"" 1; then
	pass "the agent maps $TAP_B to guest B now"
else
	fail "guest B's tap not captured"; show_agent_log
fi
for i in $(seq 1 "$N_B"); do
	in_guest "$DOM_B" /usr/bin/swaks --server 198.18.2.1 --helo b.tw.test --from shop@b.tw.test \
		--to "customer$i@ext.test" --header "Subject: Your order $((4711 + i)) has shipped" \
		--body "Order $((4711 + i)) is on its way." --timeout 20 >"$WORK/swaks-b$i.log" 2>&1 ||
		fail "guest B swaks $i" "$(tail -n 3 "$WORK/swaks-b$i.log")"
done
if wait_until 20 metric_is tapwarden_vm_messages_total "vm=\"$UUID_B\"" "$N_B" &&
	metric_is tapwarden_vm_messages_total "vm=\"$UUID_A\"" "$A_FINAL" &&
	metric_is tapwarden_vm_sessions_total "vm=\"$UUID_B\"" "$N_B"; then
	pass "B counts exactly its $N_B messages; A still $A_FINAL"
else
	fail "counts after the reuse" "A $(metric tapwarden_vm_messages_total "vm=\"$UUID_A\"") B $(metric tapwarden_vm_messages_total "vm=\"$UUID_B\"")"
fi
if ! grep -q "\"vm\":\"$UUID_B\"" "$WORK/verdicts.jsonl" && metric_is tapwarden_vm_verdict "vm=\"$UUID_B\"" 0 &&
	metric_is tapwarden_vm_verdict "vm=\"$UUID_A\"" 2; then
	pass "A's block verdict stayed with A; B on the same tap name is ok"
else
	fail "verdict leaked" "$(grep -c "$UUID_B" "$WORK/verdicts.jsonl")"
fi

# ---- clean stop ----------------------------------------------------------------------------------
kill -TERM "$AGENT_PID"
if wait_until 10 pid_gone "$AGENT_PID"; then
	wait "$AGENT_PID"; rc=$?
	AGENT_PID=
	[[ $rc == 0 ]] && pass "SIGTERM: clean stop, exit 0" || fail "SIGTERM" "exit $rc"
else
	fail "SIGTERM: agent still running after 10 s"
fi
if (( FAILED )); then
	echo "lxc: $FAILED check(s) failed"
	show_agent_log 20
	exit 1
fi
echo "lxc: all checks passed"
