#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages (as root):  bash tests/deb/run.sh VERSION
#
#   - make deb builds tapwarden-common, -agent and -controller of VERSION;
#   - lintian --pedantic prints nothing (each overridden tag is justified
#     in packaging/debian/*.lintian-overrides);
#   - each package holds what it should (binaries, units, man pages for
#     both daemons, twctl and the policy format, conffiles in
#     /etc/tapwarden) and the binaries print VERSION;
#   - installed with dpkg: the system users exist, the tokens file is
#     readable by the controller's group only, each unit's config check
#     (ExecStartPre, run as the unit's user with its options) passes;
#     systemd-analyze verify accepts both units and "security --offline"
#     rates their exposure low;
#   - the installed agent, run in a test namespace with exactly its unit's
#     privileges (user tapwarden-agent, ambient CAP_NET_RAW and
#     CAP_NET_ADMIN, no others, no new privileges), captures a guest's
#     burst and blocks it in nftables: the unit's privileges suffice;
#   - an edited conffile survives reinstalling the packages, and purging
#     them removes /etc/tapwarden and the binaries.
# Skips the install steps (and says so) when tapwarden packages are already
# installed on this machine: it never replaces an operator's installation.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=${1:?usage: run.sh VERSION}
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/hv.sh
source "$ROOT/tests/lib/hv.sh"
tw_require deb -- dpkg-buildpackage lintian systemd-analyze setpriv smtp-sink nft
FAILED=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
WORK=$(mktemp -d /tmp/tw-deb.XXXXXX)
INSTALLED=0 USERS_BEFORE=""
cleanup() {
	tw_cleanup_all
	if ((INSTALLED)); then
		dpkg --purge tapwarden-agent tapwarden-controller tapwarden-common >/dev/null 2>&1
		for u in tapwarden tapwarden-agent; do
			[[ " $USERS_BEFORE " == *" $u "* ]] || deluser --system --quiet "$u" >/dev/null 2>&1
		done
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT" || exit 2
if bash packaging/build-deb.sh "$VERSION" >"$WORK/build.out" 2>&1; then
	pass "make deb: $(ls build/deb/*.deb | grep -vc dbgsym) packages of $VERSION built"
else
	fail "make deb" "$(tail -n 20 "$WORK/build.out")"; exit 1
fi
DEB=build/deb
common=$DEB/tapwarden-common_${VERSION}_all.deb
agent=$(ls $DEB/tapwarden-agent_"${VERSION}"_*.deb) controller=$(ls $DEB/tapwarden-controller_"${VERSION}"_*.deb)

out=$(lintian --pedantic $DEB/*.changes 2>&1 | grep -v "running with root privileges")
[[ -z $out ]] && pass "lintian --pedantic: clean (overrides justified in packaging/debian)" || fail "lintian" "$out"

# ---- layout ---------------------------------------------------------------------------------
has() { # deb path...: every path is in the package
	local d=$1 p list miss=""
	list=$(dpkg-deb -c "$d" | awk '{print $6}' | sed 's|^\./|/|')
	shift
	for p; do grep -qxF "$p" <<<"$list" || miss+=" $p"; done
	[[ -z $miss ]] || { echo "$miss"; return 1; }
}
conffiles() { dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles 2>/dev/null | sort | tr '\n' ' '; }
if m1=$(has "$agent" /usr/sbin/tapwarden-agent /lib/systemd/system/tapwarden-agent.service \
		/usr/share/man/man8/tapwarden-agent.8.gz /etc/tapwarden/agent.conf /etc/tapwarden/whitelist.txt) &&
	m2=$(has "$controller" /usr/sbin/tapwarden-controller /usr/bin/twctl /lib/systemd/system/tapwarden-controller.service \
		/usr/share/man/man8/tapwarden-controller.8.gz /usr/share/man/man1/twctl.1.gz \
		/etc/tapwarden/controller.conf /etc/tapwarden/tokens.yaml) &&
	m3=$(has "$common" /etc/tapwarden/policy.yaml /etc/tapwarden/replies.yaml /usr/share/man/man5/tapwarden-policy.5.gz \
		/usr/share/tapwarden/policies/default.yaml /usr/share/tapwarden/policies/shorteners.txt) &&
	[[ $(conffiles "$agent") == "/etc/tapwarden/agent.conf /etc/tapwarden/whitelist.txt " &&
		$(conffiles "$controller") == "/etc/tapwarden/controller.conf /etc/tapwarden/tokens.yaml " &&
		$(conffiles "$common") == "/etc/tapwarden/policy.yaml /etc/tapwarden/replies.yaml " ]]; then
	pass "layout: binaries, units, man pages (8, 8, 1, 5), configuration in /etc/tapwarden as conffiles"
else
	fail "layout" "missing:${m1:-}${m2:-}${m3:-} conffiles: $(conffiles "$agent")| $(conffiles "$controller")| $(conffiles "$common")"
fi
# maintainer scripts: never enabled by the package, restarted after an
# upgrade, the agent stopped before its enforcement is removed
script() { dpkg-deb --ctrl-tarfile "$1" | tar -xO "./$2" 2>/dev/null; }
a_prerm=$(script "$agent" prerm) a_postinst=$(script "$agent" postinst)
# (debhelper's --no-enable form: enable only what was enabled before)
if grep -q "_dh_action=restart" <<<"$a_postinst" && grep -q "deb-systemd-helper debian-installed" <<<"$a_postinst" &&
	awk '/deb-systemd-invoke stop/ {s = NR} /remove-enforcement/ {r = NR} END {exit !(s && r && s < r)}' <<<"$a_prerm" &&
	grep -q "rm -rf /var/lib/tapwarden" <<<"$(script "$agent" postrm)" &&
	grep -q "_dh_action=restart" <<<"$(script "$controller" postinst)" &&
	[[ $(dpkg-deb -c "$controller" | awk '$6 == "./etc/tapwarden/tokens.yaml" {print $1}') == -rw-r----- ]]; then
	pass "maintainer scripts: not enabled on install, restarted on upgrade, the agent stopped before its rules go; tokens.yaml 0640 in the package"
else
	fail "maintainer scripts" "$(grep -n 'deb-systemd' <<<"$a_postinst$a_prerm" | head -5)"
fi
mkdir -p "$WORK/x"
for d in "$common" "$agent" "$controller"; do dpkg-deb -x "$d" "$WORK/x"; done
v1=$("$WORK/x/usr/sbin/tapwarden-agent" --version) v2=$("$WORK/x/usr/sbin/tapwarden-controller" --version)
v3=$("$WORK/x/usr/bin/twctl" --version)
[[ $v1 == "tapwarden-agent $VERSION" && $v2 == "tapwarden-controller $VERSION" && $v3 == "twctl $VERSION" ]] &&
	pass "the packaged binaries are version $VERSION" || fail "versions" "$v1 / $v2 / $v3"
# the packaged agent's built-in defaults point into the package
strings "$WORK/x/usr/sbin/tapwarden-agent" | grep -qx "/usr/share/tapwarden" &&
	pass "the packaged agent's data directory is /usr/share/tapwarden" || fail "data directory"

# ---- install ---------------------------------------------------------------------------------
if dpkg-query -W -f='${Status}\n' tapwarden-common tapwarden-agent tapwarden-controller 2>/dev/null | grep -q "ok installed"; then
	echo "SKIP install, upgrade and purge: tapwarden packages are installed on this machine"
else
	USERS_BEFORE=$(for u in tapwarden tapwarden-agent; do getent passwd "$u" >/dev/null && echo "$u"; done | tr '\n' ' ')
	INSTALLED=1
	if dpkg -i "$common" "$agent" "$controller" >"$WORK/install.out" 2>&1; then
		pass "dpkg -i: the three packages install"
	else
		fail "dpkg -i" "$(tail -n 15 "$WORK/install.out")"
	fi
	if getent passwd tapwarden >/dev/null && getent passwd tapwarden-agent >/dev/null &&
		[[ $(stat -c '%U:%G %a' /etc/tapwarden/tokens.yaml) == "root:tapwarden 640" &&
			$(getent passwd tapwarden | cut -d: -f7) == */nologin ]]; then
		pass "system users tapwarden and tapwarden-agent (no login); tokens.yaml root:tapwarden 0640"
	else
		fail "users" "$(getent passwd tapwarden) $(stat -c '%U:%G %a' /etc/tapwarden/tokens.yaml 2>&1)"
	fi
	# the units' ExecStartPre, as their users, with the shipped options
	# shellcheck disable=SC1091
	a=$(. /etc/tapwarden/agent.conf && runuser -u tapwarden-agent -- tapwarden-agent -n $AGENT_OPTS 2>&1)
	# shellcheck disable=SC1091
	c=$(. /etc/tapwarden/controller.conf && runuser -u tapwarden -- tapwarden-controller -n $CONTROLLER_OPTS 2>&1)
	if [[ $a == *"configuration OK"* && $c == *"configuration OK"* ]]; then
		pass "the shipped configuration passes both units' config check (-n, as tapwarden-agent and tapwarden)"
	else
		fail "config check" "agent: $a | controller: $c"
	fi
	printf 'version: 1\nrules: [\n' >"$WORK/bad.yaml"
	if ! runuser -u tapwarden-agent -- tapwarden-agent -n --policy "$WORK/bad.yaml" >/dev/null 2>&1; then
		pass "a broken policy fails the agent's config check (the unit would not start)"
	else
		fail "broken policy accepted"
	fi
	chmod 755 "$WORK"
	out=$(systemd-analyze verify --man=no /lib/systemd/system/tapwarden-agent.service \
		/lib/systemd/system/tapwarden-controller.service 2>&1)
	[[ -z $out ]] && pass "systemd-analyze verify: both units" || fail "systemd-analyze verify" "$out"
	sec() { systemd-analyze security --offline=yes --no-pager "/lib/systemd/system/$1.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
	ea=$(sec tapwarden-agent) ec=$(sec tapwarden-controller)
	if [[ -n $ea && -n $ec ]] && awk -v a="$ea" -v c="$ec" 'BEGIN { exit !(a <= 3.0 && c <= 2.0) }'; then
		pass "systemd-analyze security: exposure agent $ea, controller $ec (of 10; lower is safer)"
	else
		fail "exposure" "agent ${ea:-?} controller ${ec:-?}"
	fi
	grep -qx 'CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN' /lib/systemd/system/tapwarden-agent.service &&
		grep -qx 'CapabilityBoundingSet=' /lib/systemd/system/tapwarden-controller.service &&
		pass "capabilities: the agent CAP_NET_RAW and CAP_NET_ADMIN only, the controller none" ||
		fail "capabilities"

	# the packaged agent with its unit's privileges, on a test hypervisor
	NS="twdb$$-hv" NS_S="twdb$$-s" NS_G="twdb$$-g"
	UUID_G=dddddddd-1212-4000-8000-00000000000d
	if hypervisor "$NS" "$NS_S" 198.18.12 && ns_new "$NS_G" &&
		guest_on "$NS" "$NS_G" tapg0 52:54:00:12:00:02 198.18.12.2; then
		{ echo "<node>"; domain deb-g "$UUID_G" 52:54:00:12:00:02 tapg0; echo "</node>"; } >"$WORK/node.xml"
		chmod 755 "$WORK"; chmod 644 "$WORK/node.xml"
		spawn "$NS" setpriv --reuid tapwarden-agent --regid tapwarden-agent --clear-groups \
			--inh-caps=-all,+net_raw,+net_admin --ambient-caps=-all,+net_raw,+net_admin \
			--bounding-set=-all,+net_raw,+net_admin --no-new-privs \
			/usr/sbin/tapwarden-agent --libvirt "test://$WORK/node.xml" --policy /etc/tapwarden/policy.yaml \
			--replies /etc/tapwarden/replies.yaml --whitelist /etc/tapwarden/whitelist.txt \
			--metrics 127.0.0.1:9195 >"$WORK/agent.log" 2>&1
		APID=$SPAWNED
		up() { ip netns exec "$NS" curl -sf --max-time 2 http://127.0.0.1:9195/metrics | grep -q '^tapwarden_capture_up{tap="tapg0"'; }
		wait_until 15 up    # (before: the PID is still ip netns exec, then setpriv)
		caps=$(awk '/^CapEff/ {print $2}' "/proc/$APID/status" 2>/dev/null)
		uid=$(awk '/^Uid/ {print $3}' "/proc/$APID/status" 2>/dev/null)
		if up && [[ $caps == 0000000000003000 && $uid == "$(id -u tapwarden-agent)" ]] &&
			sent=$(burst "$NS_G" 198.18.12.1) && wait_until 20 bash -c "[[ \$(ip netns exec $NS nft -j list set netdev tapwarden blocked 2>/dev/null | grep -c 'vm=$UUID_G') -ge 1 ]]"; then
			pass "the installed agent as tapwarden-agent with only CAP_NET_RAW+CAP_NET_ADMIN (CapEff $caps) captured a burst and blocked it in nftables ($sent messages out)"
		else
			fail "the agent with its unit's privileges" "caps=$caps uid=$uid sent=${sent:-} $(tail -n 5 "$WORK/agent.log")"
		fi
		tw_cleanup_all
	else
		fail "test hypervisor for the packaged agent"
	fi

	echo "# local change" >>/etc/tapwarden/policy.yaml
	if dpkg -i --force-confold "$common" "$agent" "$controller" >"$WORK/reinstall.out" 2>&1 &&
		tail -n 1 /etc/tapwarden/policy.yaml | grep -qx "# local change"; then
		pass "reinstalling keeps an edited conffile"
	else
		fail "conffile" "$(tail -n 5 "$WORK/reinstall.out")"
	fi
	if dpkg --purge tapwarden-agent tapwarden-controller tapwarden-common >"$WORK/purge.out" 2>&1 &&
		[[ ! -e /etc/tapwarden && ! -e /usr/sbin/tapwarden-agent && ! -e /usr/bin/twctl ]]; then
		pass "purge removes /etc/tapwarden and the binaries"
	else
		fail "purge" "$(tail -n 5 "$WORK/purge.out") $(ls /etc/tapwarden 2>&1)"
	fi
fi

if ((FAILED)); then
	echo "deb: $FAILED check(s) failed"
	exit 1
fi
echo "deb: all checks passed"
