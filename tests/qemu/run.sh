#!/bin/bash
# SPDX-License-Identifier: MIT
# The real KVM-style stack (as root):
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/qemu/run.sh
#
# virtlogd and libvirtd (the QEMU driver; started here, no systemd) run in a
# "hypervisor" namespace with a bridge and an smtp-sink (198.18.3.1).  Two
# QEMU guests (domain type 'qemu': TCG, since this machine's KVM cannot run
# a stock kernel; the agent does not care) boot Debian's linux-image kernel
# with an initramfs built here from busybox-static and the kernel's virtio
# modules; their NICs are <interface type='bridge'> taps (vnetN) on br0.
# The guests speak SMTP with busybox nc (tests/qemu/guest-init.sh): L sends
# one order mail every 3 s, S sessions of 10 identical messages back to
# back.  The agent attaches to qemu:///system read-only and
#   1. maps each guest's vnetN to its domain UUID and counts its mail;
#   2. blocks S (verdict, nftables chain on S's tap) while L keeps sending;
#   3. S is destroyed and started again: it gets a new tap, which the agent
#      maps to S and blocks at once (a chain on the new tap, packets dropped,
#      no message of S counted after the restart), while L still sends.
# Only one libvirtd can run per machine: the test refuses to start when one
# is running.  The kernel package is downloaded (apt-get download) into
# build/qemu-cache, never installed.  Every wait is bounded; cleanup destroys
# the domains and stops every process by PID.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"
# shellcheck source=../lib/libvirt.sh
source "$ROOT/tests/lib/libvirt.sh"

tw_require qemu TW_AGENT -- libvirtd virtlogd virsh nsenter qemu-system-x86_64 smtp-sink cpio gzip apt-get dpkg-deb strings
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" ||
	{ echo "qemu: $BUSYBOX is not busybox-static (make deps)" >&2; exit 2; }
libvirtd_free qemu

WORK=$(mktemp -d /tmp/tw-qemu.XXXXXX)
chmod 755 "$WORK"
TAG="twqm$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-srv"
URI=qemu:///system
METRICS=127.0.0.1:9194
UUID_L=11111111-3333-4000-8000-00000000000c UUID_S=22222222-3333-4000-8000-00000000000d
DOM_L="$TAG-l" DOM_S="$TAG-s"
FAILED=0
LIBVIRTD_PID= VIRTLOGD_PID= AGENT_PID=
tw_log() { printf '%s\n' "qemu: $*" >&2; }
virsh_q() { timeout 60 virsh -q -c "$URI" "$@"; }
finish() {
	local rc=$?
	for d in "$DOM_L" "$DOM_S"; do virsh_q destroy "$d" >/dev/null 2>&1; virsh_q undefine "$d" >/dev/null 2>&1; done
	[[ -n "$AGENT_PID" ]] && stop_pid "$AGENT_PID" TERM 10
	[[ -n "$LIBVIRTD_PID" ]] && stop_pid "$LIBVIRTD_PID" TERM 15
	[[ -n "$VIRTLOGD_PID" ]] && stop_pid "$VIRTLOGD_PID" TERM 5
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- guest kernel and initramfs -------------------------------------------------------------
CACHE="$ROOT/build/qemu-cache"
mkdir -p "$CACHE"
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
KPKG=$(kernel_pkg)
if [[ -z $KPKG ]]; then      # no package lists yet on this machine
	apt-get update -q >"$WORK/apt-update.log" 2>&1
	KPKG=$(kernel_pkg)
fi
[[ -n $KPKG ]] || { tw_log "no linux-image-amd64 in the apt lists: $(tail -n 2 "$WORK/apt-update.log" 2>/dev/null)"; exit 2; }
if ! ls "$CACHE/${KPKG}"_*.deb >/dev/null 2>&1; then
	(cd "$CACHE" && apt-get download "$KPKG" >"$WORK/download.log" 2>&1) ||
		{ tw_log "apt-get download $KPKG failed: $(tail -n 2 "$WORK/download.log")"; exit 2; }
fi
KDEB=$(ls "$CACHE/${KPKG}"_*.deb | head -n 1)
mkdir -p "$WORK/k" "$WORK/initrd/bin" "$WORK/initrd/lib/modules"
dpkg-deb -x "$KDEB" "$WORK/k" || { tw_log "cannot unpack $KDEB"; exit 1; }
cp "$WORK"/k/boot/vmlinuz-* "$WORK/vmlinuz"
# virtio_pci and virtio_net with what they depend on (the .ko's own
# "depends=" field), dependencies first
declare -A KO SEEN
while IFS= read -r f; do KO[$(basename "$f" .ko)]=$f; done < <(find "$WORK/k/lib/modules" -name '*.ko')
LOAD=()
add_mod() {
	local m=$1 d
	[[ -n ${SEEN[$m]:-} ]] && return 0
	SEEN[$m]=1
	[[ -n ${KO[$m]:-} ]] || return 0        # built into the kernel
	for d in $(strings -a "${KO[$m]}" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$d"; done
	cp "${KO[$m]}" "$WORK/initrd/lib/modules/$m.ko"
	LOAD+=("$m")
}
add_mod virtio_pci && add_mod virtio_net
printf '%s\n' "${LOAD[@]}" >"$WORK/initrd/modules.load"
cp "$BUSYBOX" "$WORK/initrd/bin/busybox"
cp "$HERE/guest-init.sh" "$WORK/initrd/init"
chmod 755 "$WORK/initrd/init"
(cd "$WORK/initrd" && find . | cpio -o -H newc --quiet | gzip -1 >"$WORK/initrd.img") ||
	{ tw_log "cannot pack the initramfs"; exit 1; }
chmod 644 "$WORK/vmlinuz" "$WORK/initrd.img"
pass "guest: $(basename "$KDEB") kernel, initramfs with busybox-static and ${LOAD[*]}"

# ---- hypervisor namespace, virtlogd, libvirtd -----------------------------------------------------
mkdir -p /var/log/libvirt/qemu /run/libvirt
ns_new "$NS_HV" && ns_new "$NS_SRV" || { tw_log "cannot make namespaces"; exit 1; }
hv_bridge "$NS_HV" "$NS_SRV" 198.18.3.1/24 || { tw_log "cannot make the bridge"; exit 1; }
sink_start sink 198.18.3.1 || { tw_log "smtp-sink did not start"; exit 1; }
virtlogd_start "$NS_HV" || { tw_log "virtlogd did not start"; exit 1; }
nsenter --net="/run/netns/$NS_HV" libvirtd -d -p "$WORK/libvirtd.pid" || { tw_log "libvirtd did not start"; exit 1; }
if wait_until 40 virsh -c "$URI" version >/dev/null 2>&1 && LIBVIRTD_PID=$(pidfile_pid "$WORK/libvirtd.pid"); then
	pass "virtlogd and libvirtd (QEMU driver) up in the hypervisor's namespace, libvirtd pid $LIBVIRTD_PID"
else
	fail "libvirtd" "$(tail -n 5 /var/log/libvirt/libvirtd.log 2>/dev/null)"; exit 1
fi

# domain NAME UUID MAC IP ROLE MAX: a persistent TCG guest with direct kernel
# boot, its NIC a tap on br0, its serial console in WORK/NAME.console
define() {
	cat >"$WORK/$1.xml" <<EOX
<domain type='qemu'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$WORK/vmlinuz</kernel>
    <initrd>$WORK/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet tw.name=$1 tw.ip=$4 tw.mx=198.18.3.1 tw.role=$5 tw.max=$6</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$3'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='$WORK/$1.console' append='on'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOX
	virsh_q define "$WORK/$1.xml" >/dev/null
}
tap_of() { virsh_q domiflist "$1" 2>/dev/null | awk '$2 == "bridge" { print $1; exit }'; }
chain_on() { ip netns exec "$NS_HV" nft list chain netdev tapwarden "tap$(ip netns exec "$NS_HV" cat "/sys/class/net/$1/ifindex")" >/dev/null 2>&1; }
msgs() { metric tapwarden_vm_messages_total "vm=\"$1\""; }
grows() { local v; v=$(msgs "$1"); [[ -n $v ]] && ((v > $2)); }

define "$DOM_L" "$UUID_L" 52:54:00:3c:00:01 198.18.3.2 legit 200 &&
	define "$DOM_S" "$UUID_S" 52:54:00:3d:00:01 198.18.3.3 spam 400 || { fail "virsh define"; exit 1; }

# ---- the agent, read-only on qemu:///system ---------------------------------------------------------
ip netns exec "$NS_HV" "$TW_AGENT" --libvirt "$URI" --resync-interval 5 \
	--policy "$ROOT/policies/default.yaml" --replies "$ROOT/policies/replies.yaml" \
	--verdicts "$WORK/verdicts.jsonl" --metrics "$METRICS" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_until 20 metrics_up || { fail "agent start"; show_agent_log; exit 1; }

virsh_q start "$DOM_L" >/dev/null && virsh_q start "$DOM_S" >/dev/null || { fail "virsh start"; show_agent_log; exit 1; }
TAP_L=$(tap_of "$DOM_L") TAP_S=$(tap_of "$DOM_S")
if [[ -n $TAP_L && -n $TAP_S ]] && wait_until 15 metric_is tapwarden_capture_up "tap=\"$TAP_L\",vm=\"$UUID_L\"" 1 &&
	wait_until 15 metric_is tapwarden_capture_up "tap=\"$TAP_S\",vm=\"$UUID_S\"" 1; then
	pass "QEMU guests started on $TAP_L (L) and $TAP_S (S); the agent maps each tap to its domain UUID"
else
	fail "taps not mapped" "L=$TAP_L S=$TAP_S"; show_agent_log; exit 1
fi
if wait_until 90 grows "$UUID_L" 1; then
	pass "L's kernel booted and its mail is counted for L's UUID ($(msgs "$UUID_L") messages)"
else
	fail "L's mail" "console: $(tail -n 3 "$WORK/$DOM_L.console" 2>/dev/null)"; show_agent_log
fi
if wait_until 120 verdict_for "$UUID_S" block && wait_until 10 metric_is tapwarden_vm_blocked "vm=\"$UUID_S\"" 1 &&
	wait_until 10 chain_on "$TAP_S"; then
	pass "S's burst: block verdict for S's UUID after $(msgs "$UUID_S") messages, enforced by a chain on $TAP_S"
else
	fail "S not blocked" "S $(msgs "$UUID_S") messages; console: $(tail -n 2 "$WORK/$DOM_S.console" 2>/dev/null)"; show_agent_log
fi
l0=$(msgs "$UUID_L")
if wait_until 30 grows "$UUID_L" "${l0:-0}" && ! verdict_for "$UUID_L" block && metric_is tapwarden_vm_blocked "vm=\"$UUID_L\"" 0; then
	pass "L keeps sending while S is blocked ($(msgs "$UUID_L") messages) and is not blocked"
else
	fail "L after S's block" "L $(msgs "$UUID_L")"
fi

# ---- S destroyed and started again: a new tap, still blocked ----------------------------------------------
virsh_q destroy "$DOM_S" >/dev/null
wait_until 15 log_has "tap closed tap=$TAP_S vm=$UUID_S" || fail "S's tap close not seen"
s0=$(msgs "$UUID_S")
virsh_q start "$DOM_S" >/dev/null || { fail "restart S"; exit 1; }
TAP_S2=$(tap_of "$DOM_S")
dropped() { local v; v=$(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_S\""); [[ -n $v ]] && ((v > ${d0:-0})); }
d0=$(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_S\"")
if [[ -n $TAP_S2 && $TAP_S2 != "$TAP_S" ]] && wait_until 15 metric_is tapwarden_capture_up "tap=\"$TAP_S2\",vm=\"$UUID_S\"" 1 &&
	wait_until 15 chain_on "$TAP_S2"; then
	pass "S restarted on a new tap $TAP_S2 (was $TAP_S): mapped to S and blocked at once (chain on $TAP_S2)"
else
	fail "S's new tap" "new=$TAP_S2 old=$TAP_S"; show_agent_log
fi
if wait_until 90 dropped && [[ $(msgs "$UUID_S") == "$s0" ]] && metric_is tapwarden_vm_blocked "vm=\"$UUID_S\"" 1; then
	pass "S's SMTP after the restart is dropped ($(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_S\"") packets); no message of S got counted since"
else
	fail "S after the restart" "messages $s0 -> $(msgs "$UUID_S"), dropped ${d0:-0} -> $(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_S\"")"
fi
l1=$(msgs "$UUID_L")
if wait_until 30 grows "$UUID_L" "${l1:-0}"; then
	pass "L still sends ($(msgs "$UUID_L") messages)"
else
	fail "L after S's restart" "L $(msgs "$UUID_L")"
fi

if ((FAILED)); then
	echo "qemu: $FAILED check(s) failed"
	show_agent_log 30
	exit 1
fi
echo "qemu: all checks passed"
