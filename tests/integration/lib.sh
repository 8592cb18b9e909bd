# SPDX-License-Identifier: MIT
# Helpers for tests/integration/run.sh: a small "hypervisor" made of network
# namespaces, real SMTP servers inside them, and packet captures on the
# server's bridge port.  Sourced by run.sh (bash); everything here is bounded
# in time and records what it started so that cleanup can stop it by PID.
#
# Topology (all namespaces are created by the test and removed on exit):
#
#   $NS_SRV  eth0 198.18.0.1/24 .11 .12 .13   fd00:198:18::1/64 ::11
#      |                     (Postfix on .1/::1, smtp-sink on .11/.12/.13)
#   vsrv (capture here) -- br0 (in $NS_HV) -- vg1, vg2
#      |                                          |     |
#   $NS_G1 eth0 198.18.0.2/24 fd00:198:18::2   $NS_G2 eth0 198.18.0.3/24 .4  ::3
#
# No namespace has a default route; nothing can leave the test.

TW_PIDS=()          # processes to stop on exit (by PID)
TW_NETNS=()         # namespaces to delete on exit

tw_log() { printf '%s\n' "integration: $*" >&2; }

# wait_until TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds or the
# timeout passes.  Returns 0 on success, 1 on timeout.
wait_until() {
	local timeout=$1; shift
	local deadline=$(( $(date +%s%N) + timeout * 1000000000 ))
	local i
	for (( i = 0; i < 100000; i++ )); do
		if "$@"; then return 0; fi
		if (( $(date +%s%N) > deadline )); then return 1; fi
		sleep 0.05
	done
	return 1
}

# stop_pid PID [SIGNAL] [TIMEOUT_S]: send SIGNAL (default TERM), wait up to
# TIMEOUT_S (default 5) for the process to go, then SIGKILL it.
stop_pid() {
	local pid=$1 sig=${2:-TERM} timeout=${3:-5}
	[[ -n "$pid" ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -s "$sig" "$pid" 2>/dev/null || true
	if ! wait_until "$timeout" pid_gone "$pid"; then
		kill -s KILL "$pid" 2>/dev/null || true
		wait_until 2 pid_gone "$pid" || true
	fi
	# Reap it when it is our child (no-op otherwise).
	wait "$pid" 2>/dev/null || true
}

# A zombie child still answers kill -0; treat it as gone.
pid_gone() {
	local st
	[[ -e /proc/$1 ]] || return 0
	st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 0
	[[ -z "$st" || "$st" == Z ]]
}

# untrack_pid PID: forget a PID that was stopped already (PIDs get reused).
untrack_pid() {
	local i
	for i in "${!TW_PIDS[@]}"; do
		[[ "${TW_PIDS[$i]}" == "$1" ]] && unset 'TW_PIDS[$i]'
	done
	TW_PIDS=("${TW_PIDS[@]}")
}

tw_cleanup_all() {
	local i
	for (( i = ${#TW_PIDS[@]} - 1; i >= 0; i-- )); do
		stop_pid "${TW_PIDS[$i]}" TERM 5
	done
	TW_PIDS=()
	for (( i = ${#TW_NETNS[@]} - 1; i >= 0; i-- )); do
		ip netns del "${TW_NETNS[$i]}" 2>/dev/null || true
	done
	TW_NETNS=()
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# hv_bridge HVNS SRVNS ADDR/PREFIX...: a bridge br0 (up, no STP delay) in
# HVNS and the server's port on it: veth vsrv in br0, its peer eth0 in
# SRVNS with each address given.  The hypervisor of every root test.
hv_bridge() {
	local hv=$1 srv=$2 a
	shift 2
	ip -n "$hv" link add br0 type bridge stp_state 0 forward_delay 0 && ip -n "$hv" link set br0 up &&
		ip -n "$hv" link add vsrv type veth peer name eth0 netns "$srv" &&
		ip -n "$hv" link set vsrv master br0 up && ip -n "$srv" link set eth0 up || return 1
	for a; do ip -n "$srv" addr add "$a" dev eth0 || return 1; done
}

# tw_require NAME VAR... [-- TOOL...]: exit 2 with a clear message unless
# each VAR names an executable (the binaries under test), the script runs
# as root and each TOOL is installed (make deps).  Every root test starts so.
tw_require() {
	local name=$1 t
	shift
	while (($#)) && [[ $1 != -- ]]; do
		[[ -x "${!1:-}" ]] || { echo "$name: $1 must name the binary (got '${!1:-}')" >&2; exit 2; }
		shift
	done
	(($#)) && shift
	[[ $(id -u) == 0 ]] || { echo "$name: must run as root" >&2; exit 2; }
	for t; do
		command -v "$t" >/dev/null || { echo "$name: missing tool: $t (make deps)" >&2; exit 2; }
	done
}

# spawn NS CMD... [redirections]: start CMD inside NS in the background and
# track its PID for cleanup (also in SPAWNED).  "in_ns NS CMD &" would give
# the PID of a subshell running the function: stopping that leaves CMD
# running.  Here the background job is ip itself, which execs CMD.
spawn() { local ns=$1; shift; ip netns exec "$ns" "$@" & SPAWNED=$!; TW_PIDS+=("$SPAWNED"); }

# ---- topology ---------------------------------------------------------------

ns_new() {
	ip netns add "$1" || return 1
	TW_NETNS+=("$1")
	in_ns "$1" ip link set lo up
	# No DAD: addresses are usable at once (no sleep waiting for "tentative").
	in_ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# veth_to_bridge NS HOSTSIDE: a veth whose "eth0" end lives in NS and whose
# other end HOSTSIDE is a port of br0 in $NS_HV.
veth_to_bridge() {
	local ns=$1 port=$2
	ip -n "$NS_HV" link add "$port" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$NS_HV" link set "$port" master br0 up || return 1
	ip -n "$ns" link set eth0 up
}

topology_up() {
	ns_new "$NS_HV" && ns_new "$NS_SRV" && ns_new "$NS_G1" && ns_new "$NS_G2" || return 1
	ip -n "$NS_HV" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$NS_HV" link set br0 up
	veth_to_bridge "$NS_SRV" vsrv || return 1
	veth_to_bridge "$NS_G1" vg1 || return 1
	veth_to_bridge "$NS_G2" vg2 || return 1
	local a
	for a in 198.18.0.1/24 198.18.0.11/24 198.18.0.12/24 198.18.0.13/24; do
		ip -n "$NS_SRV" addr add "$a" dev eth0 || return 1
	done
	ip -n "$NS_SRV" -6 addr add fd00:198:18::1/64 dev eth0 nodad || return 1
	ip -n "$NS_SRV" -6 addr add fd00:198:18::11/64 dev eth0 nodad || return 1
	ip -n "$NS_G1" addr add 198.18.0.2/24 dev eth0 || return 1
	ip -n "$NS_G1" -6 addr add fd00:198:18::2/64 dev eth0 nodad || return 1
	ip -n "$NS_G2" addr add 198.18.0.3/24 dev eth0 || return 1
	ip -n "$NS_G2" addr add 198.18.0.4/24 dev eth0 || return 1
	ip -n "$NS_G2" -6 addr add fd00:198:18::3/64 dev eth0 nodad || return 1
	return 0
}

# ---- servers ----------------------------------------------------------------

# tcp_listening NS ADDR PORT: a listening socket on exactly ADDR:PORT.
tcp_listening() {
	local ns=$1 addr=$2 port=$3
	in_ns "$ns" ss -Hltn "sport = :$port" 2>/dev/null | awk '{print $4}' | grep -qxF "$addr:$port"
}

# pid_listening PID NS ADDR PORT: true when ADDR:PORT listens, or when PID is
# gone (so that a wait on it ends early; the caller checks again).
pid_listening() {
	local pid=$1; shift
	pid_gone "$pid" && return 0
	tcp_listening "$@"
}

# postfix_setup DIR: a private Postfix instance (config, queue and data
# directories under DIR) that listens on 198.18.0.1:25 and [fd00:198:18::1]:25
# inside $NS_SRV, delivers nothing (discard), offers STARTTLS with a fresh
# self-signed certificate, and rejects:
#   RCPT nosuchuser@tw.test           550 5.1.1 (user unknown)
#   MAIL spammer@bad.test             554 5.7.1 (sender blocked)
#   RCPT from client 198.18.0.4       554 5.7.1 ... blocked using zen.spamhaus.org
#   a Subject containing FORBIDDEN    550 5.7.1 at the end of DATA (header_checks)
postfix_setup() {
	local d=$1
	mkdir -p "$d/etc" "$d/queue" "$d/data" || return 1
	chmod 755 "$d" "$d/etc"
	chown postfix "$d/data" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.tw.test" \
		-keyout "$d/etc/key.pem" -out "$d/etc/cert.pem" >/dev/null 2>&1 || return 1
	chmod 600 "$d/etc/key.pem"
	cat >"$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $d
myhostname = mx.tw.test
mydomain = tw.test
myorigin = tw.test
mydestination =
relay_domains =
mynetworks = 198.18.0.0/15 [fd00:198:18::]/64
inet_interfaces = 198.18.0.1, fd00:198:18::1
inet_protocols = all
smtp_bind_address = 198.18.0.1
default_transport = discard
local_transport = discard
relay_transport = discard
virtual_transport = discard
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP tapwarden-test
smtpd_delay_reject = no
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions = check_sender_access texthash:$d/etc/sender_access
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_client_access cidr:$d/etc/client_access, check_recipient_access texthash:$d/etc/rcpt_access, permit_mynetworks, reject
header_checks = regexp:$d/etc/header_checks
smtpd_tls_security_level = may
smtpd_tls_cert_file = $d/etc/cert.pem
smtpd_tls_key_file = $d/etc/key.pem
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 0
EOF
	cat >"$d/etc/master.cf" <<'EOF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	printf '%s\n' 'spammer@bad.test 554 5.7.1 Sender blocked by policy' >"$d/etc/sender_access"
	printf '%s\n' 'nosuchuser@tw.test 550 5.1.1 User unknown' >"$d/etc/rcpt_access"
	printf '%s\n' '198.18.0.4/32 554 5.7.1 Service unavailable; Client host [198.18.0.4] blocked using zen.spamhaus.org' >"$d/etc/client_access"
	printf '%s\n' '/^Subject:.*FORBIDDEN/ REJECT 5.7.1 Message content rejected' >"$d/etc/header_checks"
	# Creates the queue directories with the right owners; warnings are fine.
	in_ns "$NS_SRV" postfix -c "$d/etc" check >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; return 1; }
}

# postfix_start DIR: run master in the foreground inside $NS_SRV (its PID is
# ours to stop) and wait until both listeners answer.
postfix_start() {
	local d=$1
	# Not through the in_ns function: "cmd &" must exec cmd so that $! is it.
	ip netns exec "$NS_SRV" postfix -c "$d/etc" start-fg >"$d/master.log" 2>&1 &
	POSTFIX_PID=$!
	TW_PIDS+=("$POSTFIX_PID")
	POSTFIX_DIR=$d
	wait_until 20 pid_listening "$POSTFIX_PID" "$NS_SRV" 198.18.0.1 25 &&
		tcp_listening "$NS_SRV" 198.18.0.1 25 || { cat "$d/master.log" "$d/maillog" >&2 2>/dev/null; return 1; }
	wait_until 10 tcp_listening "$NS_SRV" "[fd00:198:18::1]" 25 || return 1
	# start-fg leaves a shell waiting for master: stopping master ends both.
	POSTFIX_MASTER_PID=$(tr -dc 0-9 <"$d/queue/pid/master.pid")
	[[ -n "$POSTFIX_MASTER_PID" ]] || return 1
	TW_PIDS+=("$POSTFIX_MASTER_PID")
}

# sink_start NAME ADDR [OPTIONS...]: an smtp-sink on ADDR:25 in $NS_SRV.
sink_start() {
	local name=$1 addr=$2; shift 2
	ip netns exec "$NS_SRV" smtp-sink -u postfix "$@" "$addr:25" 64 >"$WORK/sink-$name.log" 2>&1 &
	TW_PIDS+=("$!")
	local laddr=$addr
	wait_until 10 tcp_listening "$NS_SRV" "$laddr" 25 || { cat "$WORK/sink-$name.log" >&2; return 1; }
}

# ---- capture ----------------------------------------------------------------

# capture_start FILE: tcpdump on the server's bridge port (32 MB buffer: the
# default 2 MB drops part of a 300 KB burst in immediate mode), port 25 plus the
# UDP marker (port 9, discard) used by capture_stop.  Waits until tcpdump is listening.
capture_start() {
	CAP_FILE=$1
	: >"$CAP_FILE.err"
	ip netns exec "$NS_HV" tcpdump -i vsrv -nn -s 0 -B 32768 -U --immediate-mode -Z root -w "$CAP_FILE" \
		'tcp port 25 or udp port 9' >/dev/null 2>"$CAP_FILE.err" &
	CAP_PID=$!
	TW_PIDS+=("$CAP_PID")
	wait_until 10 grep -q 'listening on' "$CAP_FILE.err" || { cat "$CAP_FILE.err" >&2; return 1; }
}

# No port-25 socket in NS is in a state other than LISTEN or TIME-WAIT.
ns_port25_quiet() {
	local n
	n=$(in_ns "$1" ss -Htan 2>/dev/null | awk '$1 != "LISTEN" && $1 != "TIME-WAIT" && ($4 ~ /:25$/ || $5 ~ /:25$/)' | wc -l)
	[[ "$n" == 0 ]]
}

sessions_closed() {
	ns_port25_quiet "$NS_SRV" && ns_port25_quiet "$NS_G1" && ns_port25_quiet "$NS_G2"
}

pcap_has_marker() {
	local n
	n=$(tcpdump -r "$1" -nn 'udp port 9' 2>/dev/null | wc -l)
	(( n >= 1 ))
}

# capture_stop [open]: wait until every port-25 connection is closed (unless
# "open" is given: a case that leaves a session open on purpose), then send
# a UDP datagram (port 9) across the capture point and wait until the pcap
# holds it.  A closed socket on both ends means every packet of the session
# was delivered, so it passed the capture point before the marker did and is
# in the file.  Then stop tcpdump and wait for it to flush and exit (SIGTERM:
# a background job of a non-interactive shell starts with SIGINT ignored).
capture_stop() {
	local rc=0
	if [[ "${1:-}" != open ]]; then
		wait_until 20 sessions_closed || { tw_log "sessions still open"; rc=1; }
	fi
	in_ns "$NS_G1" bash -c 'printf tapwarden-marker >/dev/udp/198.18.0.1/9' || rc=1
	wait_until 10 pcap_has_marker "$CAP_FILE" || { tw_log "capture did not catch up"; rc=1; }
	stop_pid "$CAP_PID" TERM 10
	untrack_pid "$CAP_PID"
	return $rc
}
