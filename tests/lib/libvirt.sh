# SPDX-License-Identifier: MIT
# For the tests that run a real libvirtd (lxc, qemu).  Sourced after
# tests/integration/lib.sh (wait_until); uses WORK.
pidfile_pid() { local p; p=$(cat "$1" 2>/dev/null) && [[ -n "$p" ]] && echo "$p"; }
# libvirtd_free NAME: exit 2 when a libvirtd runs (only one can per
# machine: /run/libvirt is fixed); one that is stopping gets 10 s, zombies
# do not count
libvirtd_free() {
	pgrep -x -r D,R,S,T libvirtd >/dev/null || return 0
	wait_until 10 bash -c '! pgrep -x -r D,R,S,T libvirtd >/dev/null' && return 0
	echo "$1: a libvirtd is already running (pid $(pgrep -x libvirtd | tr '\n' ' ')); only one can run per machine" >&2
	exit 2
}
# virtlogd_start NS: virtlogd in NS's network (pid file WORK/virtlogd.pid);
# VIRTLOGD_PID is its PID
virtlogd_start() {
	nsenter --net="/run/netns/$1" virtlogd -d -p "$WORK/virtlogd.pid" &&
		wait_until 10 pidfile_pid "$WORK/virtlogd.pid" >/dev/null || return 1
	VIRTLOGD_PID=$(pidfile_pid "$WORK/virtlogd.pid")
}
