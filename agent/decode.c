/* SPDX-License-Identifier: MIT */
/*
 * decode: one captured frame in, the TCP facts the flow table needs out.
 * Runs in the agent, on the parser side of the packet path.  Pure code: no
 * I/O, no allocation, no globals.  Frames come from guests, so every field
 * is read only after checking it lies inside the captured bytes; lengths
 * claimed by headers are checked against the original (wire) length too:
 *   - beyond the captured bytes but inside the wire frame: DECODE_TRUNCATED
 *     (the snaplen cut it; not the guest's fault);
 *   - beyond the wire frame, or contradictory: DECODE_MALFORMED.
 * IP total length is trusted over the frame length (Ethernet pads short
 * frames), and the captured payload is min(total length, captured bytes).
 */
#include "decode.h"

#include <string.h>

#define ETH_HLEN        14
#define SLL_HLEN        16
#define SLL2_HLEN       20
#define NULL_HLEN       4
#define IPV4_MIN_HLEN   20
#define IPV6_HLEN       40
#define TCP_MIN_HLEN    20

#define ETHERTYPE_IPV4  0x0800
#define ETHERTYPE_IPV6  0x86dd
#define ETHERTYPE_8021Q 0x8100
#define ETHERTYPE_8021AD 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100
#define ETHERTYPE_MIN   0x0600  /* below: an 802.3 length field */

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_     6
#define IPPROTO_UDP_     17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_      51
#define IPPROTO_NONE_    59
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_ICMPV6_  58

/* A longer IPv6 extension chain than this is not something a stack emits;
 * refuse it rather than walk a guest-chosen list. */
#define DECODE_MAX_EXT_HEADERS 8

/* Address family values seen in DLT_NULL / DLT_LOOP headers. */
#define NULL_AF_INET        2
#define NULL_AF_INET6_LINUX 10
#define NULL_AF_INET6_BSD   24
#define NULL_AF_INET6_FBSD  28
#define NULL_AF_INET6_OSX   30

/* The frame being decoded: readable bytes and the original length. */
struct frame {
	const uint8_t *p;
	uint32_t cap;   /* captured bytes at p */
	uint32_t wire;  /* original length, never below cap */
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Are the bytes [off, off+n) captured?  DECODE_OK when they are; otherwise
 * TRUNCATED when the wire frame still holds them, MALFORMED when not.
 * 64-bit arithmetic: off+n cannot wrap.
 */
static enum decode_result need(const struct frame *f, uint64_t off, uint64_t n)
{
	if (off + n <= f->cap)
		return DECODE_OK;
	return off + n <= f->wire ? DECODE_TRUNCATED : DECODE_MALFORMED;
}

/*
 * TCP header at off; the IP payload (TCP header + data) ends at ip_end on
 * the wire (ip_end <= f->wire is checked by the caller).  Fills the TCP
 * fields of *out.
 */
static enum decode_result decode_tcp(const struct frame *f, uint32_t off, uint32_t ip_end,
				     struct decoded_pkt *out)
{
	enum decode_result r;

	if (ip_end - off < TCP_MIN_HLEN)
		return DECODE_MALFORMED;
	if ((r = need(f, off, TCP_MIN_HLEN)) != DECODE_OK)
		return r;
	const uint8_t *th = f->p + off;
	uint32_t doff = (uint32_t)(th[12] >> 4) * 4;
	if (doff < TCP_MIN_HLEN || doff > ip_end - off)
		return DECODE_MALFORMED;
	if ((r = need(f, off, doff)) != DECODE_OK)
		return r;

	out->sport = rd16(th);
	out->dport = rd16(th + 2);
	out->seq = rd32(th + 4);
	out->ack = rd32(th + 8);
	out->flags = th[13] & (DECODE_TH_FIN | DECODE_TH_SYN | DECODE_TH_RST |
			       DECODE_TH_PSH | DECODE_TH_ACK);
	out->window = rd16(th + 14);

	uint32_t pay = off + doff;
	uint32_t cap_end = ip_end < f->cap ? ip_end : f->cap;
	out->payload = f->p + pay;
	out->payload_wire_len = ip_end - pay;
	out->payload_len = cap_end > pay ? cap_end - pay : 0;
	return DECODE_OK;
}

/* IPv4 header at off. */
static enum decode_result decode_ipv4(const struct frame *f, uint32_t off,
				      struct decoded_pkt *out)
{
	enum decode_result r;

	if ((r = need(f, off, IPV4_MIN_HLEN)) != DECODE_OK)
		return r;
	const uint8_t *ip = f->p + off;
	if (ip[0] >> 4 != 4)
		return DECODE_MALFORMED;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ihl < IPV4_MIN_HLEN)
		return DECODE_MALFORMED;
	uint32_t tot = rd16(ip + 2);
	/* Total length 0 is what TSO/GSO super-packets carry when captured on
	 * the sending host: the frame length is then the only truth. */
	if (tot == 0)
		tot = f->wire - off;
	if (tot < ihl || (uint64_t)off + tot > f->wire)
		return DECODE_MALFORMED;
	if ((r = need(f, off, ihl)) != DECODE_OK)
		return r;
	if (rd16(ip + 6) & 0x3fff)   /* MF or a fragment offset */
		return ip[9] == IPPROTO_TCP_ ? DECODE_FRAGMENT : DECODE_NOT_TCP;
	if (ip[9] != IPPROTO_TCP_)
		return DECODE_NOT_TCP;

	out->family = 4;
	memcpy(out->src, ip + 12, 4);
	memcpy(out->dst, ip + 16, 4);
	return decode_tcp(f, off + ihl, off + tot, out);
}

/* IPv6 header at off, then its extension header chain up to TCP. */
static enum decode_result decode_ipv6(const struct frame *f, uint32_t off,
				      struct decoded_pkt *out)
{
	enum decode_result r;

	if ((r = need(f, off, IPV6_HLEN)) != DECODE_OK)
		return r;
	const uint8_t *ip = f->p + off;
	if (ip[0] >> 4 != 6)
		return DECODE_MALFORMED;
	uint32_t plen = rd16(ip + 4);
	/* 0: a jumbogram or a GSO super-packet; the frame length decides. */
	if (plen == 0)
		plen = f->wire - off - IPV6_HLEN;
	if ((uint64_t)off + IPV6_HLEN + plen > f->wire)
		return DECODE_MALFORMED;
	uint32_t end = off + IPV6_HLEN + plen;
	uint32_t pos = off + IPV6_HLEN;
	uint8_t nh = ip[6];

	for (int n = 0; nh != IPPROTO_TCP_; n++) {
		uint32_t len;

		if (n >= DECODE_MAX_EXT_HEADERS)
			return DECODE_MALFORMED;
		switch (nh) {
		case IPPROTO_HOPOPTS_:
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
		case IPPROTO_AH_:
		case IPPROTO_FRAGMENT_:
			break;
		default:   /* UDP, ICMPv6, ESP, no next header, ... */
			return DECODE_NOT_TCP;
		}
		if (end - pos < 8)
			return DECODE_MALFORMED;
		if ((r = need(f, pos, 8)) != DECODE_OK)
			return r;
		const uint8_t *eh = f->p + pos;
		if (nh == IPPROTO_FRAGMENT_) {
			len = 8;
			/* offset 0 and no M flag: an atomic fragment, a whole packet */
			if (rd16(eh + 2) & 0xfff9)
				return eh[0] == IPPROTO_UDP_ || eh[0] == IPPROTO_ICMPV6_ ||
				       eh[0] == IPPROTO_NONE_ ? DECODE_NOT_TCP : DECODE_FRAGMENT;
		} else if (nh == IPPROTO_AH_) {
			len = ((uint32_t)eh[1] + 2) * 4;
		} else {
			len = ((uint32_t)eh[1] + 1) * 8;
		}
		if (len > end - pos)
			return DECODE_MALFORMED;
		if ((r = need(f, pos, len)) != DECODE_OK)
			return r;
		nh = eh[0];
		pos += len;
	}

	out->family = 6;
	memcpy(out->src, ip + 8, 16);
	memcpy(out->dst, ip + 24, 16);
	return decode_tcp(f, pos, end, out);
}

/* Dispatch on the IP version nibble (raw IP link types). */
static enum decode_result decode_ip_any(const struct frame *f, uint32_t off,
					struct decoded_pkt *out)
{
	enum decode_result r;

	if ((r = need(f, off, 1)) != DECODE_OK)
		return r;
	switch (f->p[off] >> 4) {
	case 4: return decode_ipv4(f, off, out);
	case 6: return decode_ipv6(f, off, out);
	default: return DECODE_MALFORMED;
	}
}

/*
 * An ethertype read just before off: skip any stack of VLAN tags (each a
 * 2-byte TCI then the next ethertype), recording the outermost VIDs, then
 * decode the IP packet.
 */
static enum decode_result decode_ethertype(const struct frame *f, uint16_t type, uint32_t off,
					   struct decoded_pkt *out)
{
	enum decode_result r;

	while (type == ETHERTYPE_8021Q || type == ETHERTYPE_8021AD ||
	       type == ETHERTYPE_QINQ_OLD) {
		if ((r = need(f, off, 4)) != DECODE_OK)
			return r;
		if (out->vlan_count < DECODE_MAX_VLANS)
			out->vlan[out->vlan_count] = rd16(f->p + off) & 0x0fff;
		if (out->vlan_count < UINT8_MAX)
			out->vlan_count++;
		type = rd16(f->p + off + 2);
		off += 4;
	}
	switch (type) {
	case ETHERTYPE_IPV4: return decode_ipv4(f, off, out);
	case ETHERTYPE_IPV6: return decode_ipv6(f, off, out);
	default: return DECODE_NOT_TCP;
	}
}

/* DLT_NULL (host byte order of the capturing machine) / DLT_LOOP (network). */
static enum decode_result decode_null(const struct frame *f, bool network_order,
				      struct decoded_pkt *out)
{
	enum decode_result r;

	if ((r = need(f, 0, NULL_HLEN)) != DECODE_OK)
		return r;
	const uint8_t *h = f->p;
	uint32_t be = rd32(h);
	uint32_t le = (uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[1] << 8 | h[0];
	/* The writer's byte order is unknown for DLT_NULL: the family is a
	 * small number, so whichever reading is small is the right one. */
	uint32_t af = network_order ? be : (le < 256 ? le : be);

	switch (af) {
	case NULL_AF_INET:
		return decode_ipv4(f, NULL_HLEN, out);
	case NULL_AF_INET6_LINUX:
	case NULL_AF_INET6_BSD:
	case NULL_AF_INET6_FBSD:
	case NULL_AF_INET6_OSX:
		return decode_ipv6(f, NULL_HLEN, out);
	default:
		return DECODE_NOT_TCP;
	}
}

bool decode_dlt_supported(int dlt)
{
	switch (dlt) {
	case DECODE_DLT_EN10MB:
	case DECODE_DLT_RAW:
	case DECODE_DLT_RAW_ALT:
	case DECODE_DLT_IPV4:
	case DECODE_DLT_IPV6:
	case DECODE_DLT_LINUX_SLL:
	case DECODE_DLT_LINUX_SLL2:
	case DECODE_DLT_NULL:
	case DECODE_DLT_LOOP:
		return true;
	default:
		return false;
	}
}

enum decode_result decode_packet(int dlt, const uint8_t *data, uint32_t caplen,
				 uint32_t wirelen, struct decoded_pkt *out)
{
	struct frame f = { data, caplen, wirelen > caplen ? wirelen : caplen };
	struct decoded_pkt d;
	enum decode_result r;

	if (!data)
		f.cap = f.wire = 0;
	/* Only the fields decoding fills conditionally need clearing; the
	 * rest are all written before DECODE_OK is returned. */
	memset(d.src, 0, sizeof(d.src));
	memset(d.dst, 0, sizeof(d.dst));
	memset(d.vlan, 0, sizeof(d.vlan));
	d.vlan_count = 0;
	d.ifindex = -1;
	d.mac_flags = 0;

	switch (dlt) {
	case DECODE_DLT_EN10MB:
		if ((r = need(&f, 0, ETH_HLEN)) != DECODE_OK)
			return r;
		memcpy(d.dst_mac, data, 6);
		memcpy(d.src_mac, data + 6, 6);
		d.mac_flags = DECODE_MAC_SRC | DECODE_MAC_DST;
		r = decode_ethertype(&f, rd16(data + 12), ETH_HLEN, &d);
		break;
	case DECODE_DLT_LINUX_SLL:
		if ((r = need(&f, 0, SLL_HLEN)) != DECODE_OK)
			return r;
		if (rd16(data + 4) == 6) {      /* sender's address length */
			memcpy(d.src_mac, data + 6, 6);
			d.mac_flags = DECODE_MAC_SRC;
		}
		r = decode_ethertype(&f, rd16(data + 14), SLL_HLEN, &d);
		break;
	case DECODE_DLT_LINUX_SLL2:
		if ((r = need(&f, 0, SLL2_HLEN)) != DECODE_OK)
			return r;
		d.ifindex = (int32_t)rd32(data + 4);
		if (data[11] == 6) {
			memcpy(d.src_mac, data + 12, 6);
			d.mac_flags = DECODE_MAC_SRC;
		}
		r = decode_ethertype(&f, rd16(data), SLL2_HLEN, &d);
		break;
	case DECODE_DLT_RAW:
	case DECODE_DLT_RAW_ALT:
		r = decode_ip_any(&f, 0, &d);
		break;
	case DECODE_DLT_IPV4:
		r = decode_ipv4(&f, 0, &d);
		break;
	case DECODE_DLT_IPV6:
		r = decode_ipv6(&f, 0, &d);
		break;
	case DECODE_DLT_NULL:
		r = decode_null(&f, false, &d);
		break;
	case DECODE_DLT_LOOP:
		r = decode_null(&f, true, &d);
		break;
	default:
		return DECODE_UNSUPPORTED;
	}
	if (r == DECODE_OK)
		*out = d;
	return r;
}

const char *decode_result_name(enum decode_result r)
{
	switch (r) {
	case DECODE_OK: return "ok";
	case DECODE_NOT_TCP: return "not_tcp";
	case DECODE_FRAGMENT: return "fragment";
	case DECODE_MALFORMED: return "malformed";
	case DECODE_TRUNCATED: return "truncated";
	case DECODE_UNSUPPORTED: return "unsupported";
	}
	return "unknown";
}
