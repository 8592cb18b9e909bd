/* SPDX-License-Identifier: MIT */
/*
 * capture: libpcap I/O for the agent (agent process).  Offline reading of
 * pcap/pcapng files at microsecond precision; frames are decoded and fed to
 * the session tracker; idle sessions are expired on the capture clock.
 */
#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

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
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		snprintf(err, cap, "cannot read %s: %s", path, ebuf);
		return -EINVAL;
	}
	dlt = pcap_datalink(p);
	if (!decode_dlt_supported(dlt)) {
		snprintf(err, cap, "%s: unsupported link type %d (%s)", path, dlt,
			 pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
		pcap_close(p);
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
	pcap_close(p);
	return rc;
}
