/* SPDX-License-Identifier: MIT */
/*
 * capture: libpcap I/O for the agent (agent process).  Offline reading of
 * pcap/pcapng files at microsecond precision; frames are decoded and fed to
 * the session tracker; idle sessions are expired on the capture clock.
 * Live reading of one tap per handle for the daemon (non-blocking,
 * pcap_dispatch with a budget; the daemon's loop owns the descriptor).
 */
#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/filter.h>
#include <pcap/pcap.h>
#include <sys/socket.h>

#define CAPTURE_FILE_BUFFER (1u << 20)

/* How often (capture time) idle flows are expired. */
#define CAPTURE_EXPIRE_EVERY_US 1000000ULL

int capture_read_file(const char *path, struct session_tracker *t,
		      struct capture_counters *c, char *err, size_t cap)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	pcap_t *p;
	int dlt, rc = 0;
	uint64_t next_expire = 0;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	/* our own FILE with a large buffer: libpcap reads record by record, and
	 * stdio's default 4 KiB buffer made read(2) a fifth of the run time */
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	/* glibc ignores the size unless it is given the buffer */
	char *fbuf = f == stdin ? NULL : malloc(CAPTURE_FILE_BUFFER);
	if (fbuf)
		setvbuf(f, fbuf, _IOFBF, CAPTURE_FILE_BUFFER);
	p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		snprintf(err, cap, "cannot read %s: %s", path, ebuf);
		if (f != stdin)
			fclose(f);
		free(fbuf);
		return -EINVAL;
	}
	dlt = pcap_datalink(p);
	if (!decode_dlt_supported(dlt)) {
		snprintf(err, cap, "%s: unsupported link type %d (%s)", path, dlt,
			 pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
		pcap_close(p);
		free(fbuf);
		return -ENOTSUP;
	}

	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int r = pcap_next_ex(p, &h, &data);
		if (r == PCAP_ERROR_BREAK)
			break;
		if (r == PCAP_ERROR) {
			/* a truncated file: keep what was read */
			snprintf(err, cap, "%s: read error after %llu frames: %s", path,
				 (unsigned long long)c->frames, pcap_geterr(p));
			break;
		}
		if (r != 1)
			continue;
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000ULL + (uint64_t)h->ts.tv_usec;
		c->frames++;
		c->bytes += h->caplen;
		if (c->frames == 1)
			c->first_ts_us = ts;
		if (ts < c->last_ts_us)
			c->ts_backwards++;
		else
			c->last_ts_us = ts;

		struct decoded_pkt pkt;
		enum decode_result dr = decode_packet(dlt, data, h->caplen, h->len, &pkt);
		c->decode[dr]++;
		if (dr == DECODE_OK)
			session_tracker_packet(t, &pkt, ts);
		if (ts >= next_expire) {
			if (next_expire)
				session_tracker_expire(t, ts);
			next_expire = ts + CAPTURE_EXPIRE_EVERY_US;
		}
	}
	session_tracker_flush(t, c->last_ts_us);
	pcap_close(p);          /* closes f; its buffer is free after that */
	free(fbuf);
	return rc;
}

/* ---- live capture -------------------------------------------------------- */

struct capture_live {
	pcap_t *p;
	int dlt;
	int fd;
	struct session_tracker *t;      /* during a dispatch call */
	struct capture_counters *c;
};

static int live_fail(pcap_t *p, int rc, char *err, size_t cap, const char *ifname,
		     const char *what, const char *detail)
{
	snprintf(err, cap, "%s: %s: %s", ifname, what, detail);
	if (p)
		pcap_close(p);
	return rc;
}

int capture_live_open(const char *ifname, const struct capture_live_config *cfg,
		      struct capture_live **out, char *err, size_t cap)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct bpf_program prog;
	struct capture_live *l;
	pcap_t *p;
	int r;

	*out = NULL;
	err[0] = '\0';
	ebuf[0] = '\0';
	p = pcap_create(ifname, ebuf);
	if (!p)
		return live_fail(NULL, -EIO, err, cap, ifname, "pcap_create", ebuf);
	if (pcap_set_snaplen(p, 262144) != 0 || pcap_set_promisc(p, 0) != 0 ||
	    pcap_set_timeout(p, cfg->timeout_ms) != 0 ||
	    pcap_set_buffer_size(p, (int)cfg->buffer_bytes) != 0 ||
	    pcap_set_immediate_mode(p, 0) != 0 ||
	    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO) != 0)
		return live_fail(p, -EIO, err, cap, ifname, "setting options", pcap_geterr(p));
	r = pcap_activate(p);
	if (r < 0) {
		int rc = r == PCAP_ERROR_NO_SUCH_DEVICE ? -ENODEV :
			 r == PCAP_ERROR_IFACE_NOT_UP ? -ENETDOWN :
			 r == PCAP_ERROR_PERM_DENIED ? -EPERM : -EIO;
		const char *msg = r == PCAP_ERROR_IFACE_NOT_UP ? "interface is not up" : pcap_geterr(p);
		if (!msg || !*msg)
			msg = pcap_statustostr(r);
		return live_fail(p, rc, err, cap, ifname, "activate", msg);
	}
	if (pcap_setnonblock(p, 1, ebuf) != 0)
		return live_fail(p, -EIO, err, cap, ifname, "non-blocking", ebuf);
	int dlt = pcap_datalink(p);
	if (!decode_dlt_supported(dlt))
		return live_fail(p, -ENOTSUP, err, cap, ifname, "link type",
				 pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
	/* compiled on the live handle: it knows about VLAN offload */
	if (pcap_compile(p, &prog, cfg->userspace_filter ? cfg->userspace_filter : cfg->filter, 1,
			 PCAP_NETMASK_UNKNOWN) != 0)
		return live_fail(p, -EINVAL, err, cap, ifname, "filter", pcap_geterr(p));
	r = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	if (r != 0)
		return live_fail(p, -EINVAL, err, cap, ifname, "setfilter", pcap_geterr(p));
	/*
	 * A filter on the packet type (inbound/outbound) runs only in the
	 * kernel, but libpcap also runs its filter in user space over the
	 * frames that were in the ring when it was set (the first TPACKET_V3
	 * block), where such a test fails and every frame of that block
	 * would be lost.  So libpcap gets the user-space-safe superset, and
	 * the kernel gets the real program right after, on the socket: from
	 * then on only the kernel filters.  Frames that arrive in the
	 * microseconds between the two pass the superset (watched ports,
	 * either direction).
	 */
	if (cfg->userspace_filter) {
		struct sock_fprog fp;

		if (pcap_compile(p, &prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
			return live_fail(p, -EINVAL, err, cap, ifname, "filter", pcap_geterr(p));
		fp.len = (unsigned short)prog.bf_len;
		fp.filter = (struct sock_filter *)prog.bf_insns;   /* same layout */
		r = prog.bf_len > BPF_MAXINSNS ? -E2BIG :
		    setsockopt(pcap_fileno(p), SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0 ? 0 : -errno;
		pcap_freecode(&prog);
		if (r < 0)
			return live_fail(p, -EINVAL, err, cap, ifname, "attaching the kernel filter", strerror(-r));
	}
	int fd = pcap_get_selectable_fd(p);
	if (fd < 0)
		return live_fail(p, -EIO, err, cap, ifname, "descriptor", "none");
	l = calloc(1, sizeof(*l));
	if (!l)
		return live_fail(p, -ENOMEM, err, cap, ifname, "memory", "out of memory");
	l->p = p;
	l->dlt = dlt;
	l->fd = fd;
	*out = l;
	return 0;
}

int capture_live_fd(const struct capture_live *l)
{
	return l->fd;
}

static void live_frame(u_char *arg, const struct pcap_pkthdr *h, const u_char *data)
{
	struct capture_live *l = (struct capture_live *)arg;
	struct capture_counters *c = l->c;
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000ULL + (uint64_t)h->ts.tv_usec;
	struct decoded_pkt pkt;
	enum decode_result dr;

	c->frames++;
	c->bytes += h->caplen;
	if (c->frames == 1)
		c->first_ts_us = ts;
	if (ts < c->last_ts_us)
		c->ts_backwards++;
	else
		c->last_ts_us = ts;
	dr = decode_packet(l->dlt, data, h->caplen, h->len, &pkt);
	c->decode[dr]++;
	if (dr == DECODE_OK)
		session_tracker_packet(l->t, &pkt, ts);
}

int capture_live_dispatch(struct capture_live *l, int budget, struct session_tracker *t,
			  struct capture_counters *c, char *err, size_t cap)
{
	int n;

	err[0] = '\0';
	l->t = t;
	l->c = c;
	n = pcap_dispatch(l->p, budget, live_frame, (u_char *)l);
	l->t = NULL;
	l->c = NULL;
	if (n == PCAP_ERROR) {
		snprintf(err, cap, "%s", pcap_geterr(l->p));
		return -ENETDOWN;
	}
	if (n < 0)      /* PCAP_ERROR_BREAK: nothing read */
		return 0;
	return n;
}

int capture_live_get_stats(struct capture_live *l, struct capture_live_stats *out)
{
	struct pcap_stat ps;

	memset(out, 0, sizeof(*out));
	if (pcap_stats(l->p, &ps) != 0)
		return -EIO;
	out->received = ps.ps_recv;
	out->dropped = ps.ps_drop;
	out->ifdropped = ps.ps_ifdrop;
	return 0;
}

void capture_live_close(struct capture_live *l)
{
	if (!l)
		return;
	pcap_close(l->p);
	free(l);
}
