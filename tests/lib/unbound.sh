# SPDX-License-Identifier: MIT
# A real DNS server for the tests of the DNS checks (dns, wlreq).  Sourced
# after tests/integration/lib.sh (spawn); uses WORK.
#
# unbound_start NS: unbound on 127.0.0.1:5353 inside NS, serving only the
# local zones read from stdin (unbound.conf "local-zone:" / "local-data:"
# lines, indented); no recursion, no route out.  Config and log in WORK.
unbound_start() {
	{
		cat <<CONF
server:
  interface: 127.0.0.1@5353
  port: 5353
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
CONF
		cat
		printf 'remote-control:\n  control-enable: no\n'
	} >"$WORK/unbound.conf"
	spawn "$1" unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1
}
# dkim_pubkey: a fresh RSA public key, base64 as a DKIM key record's p=
dkim_pubkey() { openssl genrsa 1024 2>/dev/null | openssl rsa -pubout 2>/dev/null | grep -v -- ----- | tr -d '\n'; }
