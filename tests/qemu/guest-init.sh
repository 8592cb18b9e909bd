#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the QEMU test guests (tests/qemu/run.sh packs it into an
# initramfs with busybox-static and the virtio modules).  The kernel command
# line says what to do: tw.name, tw.ip (on eth0, /24), tw.mx (the SMTP
# server), tw.role (spam: sessions of 10 identical messages, back to back;
# legit: one order mail every 3 s), tw.max (sessions at most).  SMTP is a
# scripted dialogue over busybox nc (busybox has no sendmail); every loop is
# bounded by tw.max.  Progress goes to the serial console.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /modules.load); do insmod "/lib/modules/$m.ko" || echo "tw-guest: insmod $m failed"; done
for a in $(cat /proc/cmdline); do
	case $a in
	tw.name=*) NAME=${a#*=} ;;
	tw.ip=*) IP=${a#*=} ;;
	tw.mx=*) MX=${a#*=} ;;
	tw.role=*) ROLE=${a#*=} ;;
	tw.max=*) MAX=${a#*=} ;;
	esac
done
i=0
while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
ip addr add "$IP/24" dev eth0
echo "tw-guest: $NAME up as $ROLE on $IP"

# session N SUBJECT: one connection carrying N messages (pipelined after
# the greeting), then QUIT; the output of nc goes to /tmp/last
session() {
	{
		sleep 0.5
		printf 'EHLO %s.guest.test\r\n' "$NAME"
		k=0
		while [ $k -lt "$1" ]; do
			printf 'MAIL FROM:<news@%s.guest.test>\r\nRCPT TO:<user%s@tw.test>\r\nDATA\r\n' "$NAME" "$k"
			printf 'From: <news@%s.guest.test>\r\nSubject: %s\r\nMessage-ID: <%s.%s.%s@%s.guest.test>\r\n\r\n%s\r\n.\r\n' \
				"$NAME" "$2" "$s" "$k" "$RANDOM" "$NAME" "$2 - see http://198.18.9.9/offer"
			k=$((k + 1))
		done
		printf 'QUIT\r\n'
		sleep 1
	} | nc -w 5 "$MX" 25 >/tmp/last 2>&1
}
s=0
while [ $s -lt "${MAX:-100}" ]; do
	s=$((s + 1))
	case $ROLE in
	spam)
		session 10 "Cheap watches, best prices"
		echo "tw-guest: session $s: $(grep -c "^250" /tmp/last) replies 250, last: $(tail -n 1 /tmp/last)"
		;;
	*)
		session 1 "Your order $((4000 + s)) has shipped"
		echo "tw-guest: session $s: $(grep -c "^250" /tmp/last) replies 250, last: $(tail -n 1 /tmp/last)"
		sleep 3
		;;
	esac
done
echo "tw-guest: $NAME done"
poweroff -f
