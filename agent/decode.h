/* SPDX-License-Identifier: MIT */
/*
 * decode: turn one captured frame into the TCP facts the flow table needs.
 * Pure code (agent process, parser side): no I/O, no allocation, no globals.
 * Every field read is bounds-checked against the captured length.
 */
#ifndef TAPWARDEN_DECODE_H
#define TAPWARDEN_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types we understand (values are libpcap DLT_* numbers). */
#define DECODE_DLT_EN10MB     1
#define DECODE_DLT_RAW        12   /* DLT_RAW on most platforms */
#define DECODE_DLT_RAW_ALT    14   /* DLT_RAW on OpenBSD-ish captures */
#define DECODE_DLT_IPV4       228
#define DECODE_DLT_IPV6       229
#define DECODE_DLT_LINUX_SLL  113
#define DECODE_DLT_LINUX_SLL2 276
#define DECODE_DLT_NULL       0    /* BSD loopback, host-order AF_ value */
#define DECODE_DLT_LOOP       108  /* OpenBSD loopback, network-order AF_ */

#define DECODE_MAX_VLANS 2

enum decode_result {
	DECODE_OK = 0,        /* a TCP segment: *out is filled */
	DECODE_NOT_TCP,       /* well-formed, but not TCP over IPv4/IPv6 (ARP, UDP, ...) */
	DECODE_FRAGMENT,      /* an IP fragment: not reassembled, counted by the caller */
	DECODE_MALFORMED,     /* a length or header field does not fit: counted */
	DECODE_TRUNCATED,     /* the snaplen cut the frame before the TCP header ended */
	DECODE_UNSUPPORTED,   /* unknown link type */
};

/* TCP flags as in the header. */
#define DECODE_TH_FIN 0x01
#define DECODE_TH_SYN 0x02
#define DECODE_TH_RST 0x04
#define DECODE_TH_PSH 0x08
#define DECODE_TH_ACK 0x10

struct decoded_pkt {
	uint8_t  family;            /* 4 or 6 */
	uint8_t  src[16], dst[16];  /* IPv4 uses the first 4 bytes, rest zero */
	uint16_t sport, dport;      /* host order */
	uint32_t seq, ack;          /* host order */
	uint8_t  flags;             /* DECODE_TH_* */
	uint16_t window;
	const uint8_t *payload;     /* borrows from the frame; valid while the frame is */
	uint32_t payload_len;       /* captured payload bytes available at payload */
	uint32_t payload_wire_len;  /* payload length per the IP header (>= payload_len) */
	uint16_t vlan[DECODE_MAX_VLANS]; /* outermost first; VID only (12 bits) */
	uint8_t  vlan_count;        /* tags seen; may exceed DECODE_MAX_VLANS, extra not stored */
	int32_t  ifindex;           /* SLL2 interface index, -1 when the link type has none */
	uint8_t  src_mac[6], dst_mac[6];  /* link-layer addresses, when mac_flags says so */
	uint8_t  mac_flags;         /* DECODE_MAC_SRC (Ethernet, SLL/SLL2 with a 6-byte
				       address), DECODE_MAC_DST (Ethernet) */
};

#define DECODE_MAC_SRC 1
#define DECODE_MAC_DST 2

/*
 * Decode one frame of link type dlt (a DLT_* value).  caplen bytes are readable
 * at data; wirelen is the original length.  Borrows data; fills *out only
 * when the result is DECODE_OK (payload points into data).  Handles Ethernet
 * with any number of 802.1Q/802.1ad tags, SLL, SLL2, raw IPv4/IPv6, and IPv6
 * extension headers (hop-by-hop, routing, destination options, fragment,
 * AH); an IPv6 fragment header with offset 0 and no more-fragments is an
 * atomic fragment and decodes normally.
 */
enum decode_result decode_packet(int dlt, const uint8_t *data, uint32_t caplen,
				 uint32_t wirelen, struct decoded_pkt *out);

/* Is dlt one of the link types decode_packet() understands? */
bool decode_dlt_supported(int dlt);

/* Static name of a result, for counters and logs. */
const char *decode_result_name(enum decode_result r);

#endif
