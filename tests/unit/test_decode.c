/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for decode.c: hand-built frames for every supported link type,
 * VLAN stacks, IPv6 extension chains, and every truncation point of each
 * (copied into an exact-size heap buffer so ASan catches any over-read).
 */
#include "testutil.h"

#include <stdlib.h>

#include "decode.h"

#define TOFF_FLAGS 13

static const uint8_t PAYLOAD[] = "EHLO example.org\r\n";
#define PAYLOAD_LEN ((uint32_t)(sizeof(PAYLOAD) - 1))

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* TCP header (with 12 option bytes: doff 8) + PAYLOAD at p; returns length. */
static size_t put_tcp(uint8_t *p)
{
	memset(p, 0, 32);
	put16(p, 40000);
	put16(p + 2, 25);
	put32(p + 4, 0x11223344);
	put32(p + 8, 0x55667788);
	p[12] = 8 << 4;
	p[TOFF_FLAGS] = DECODE_TH_ACK | DECODE_TH_PSH;
	put16(p + 14, 29200);
	p[20] = 1; p[21] = 1; p[22] = 8; p[23] = 10;  /* NOP NOP TS */
	memcpy(p + 32, PAYLOAD, PAYLOAD_LEN);
	return 32 + PAYLOAD_LEN;
}

/* IPv4 + TCP at p; returns length. */
static size_t put_ipv4(uint8_t *p, uint8_t proto, uint16_t frag)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	size_t tl = 20 + put_tcp(p + 20);
	put16(p + 2, (uint16_t)tl);
	put16(p + 6, frag);
	p[8] = 64;
	p[9] = proto;
	p[12] = 198; p[13] = 18; p[14] = 0; p[15] = 1;
	p[16] = 198; p[17] = 19; p[18] = 0; p[19] = 2;
	return tl;
}

/* IPv6 + optional extension headers (types in ext[], n) + TCP at p. */
static size_t put_ipv6(uint8_t *p, const uint8_t *ext, size_t n)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[7] = 64;
	p[8] = 0x20; p[9] = 0x01; p[10] = 0x0d; p[11] = 0xb8; p[23] = 1;
	p[24] = 0x20; p[25] = 0x01; p[26] = 0x0d; p[27] = 0xb8; p[39] = 2;
	uint8_t *nh = &p[6];
	size_t pos = 40;
	for (size_t i = 0; i < n; i++) {
		*nh = ext[i];
		uint8_t *e = p + pos;
		memset(e, 0, 24);
		nh = &e[0];
		if (ext[i] == 44) {          /* fragment: atomic */
			pos += 8;
		} else if (ext[i] == 51) {   /* AH: 16 bytes = (2+2)*4 */
			e[1] = 2;
			pos += 16;
		} else {                     /* 16 bytes = (1+1)*8 */
			e[1] = 1;
			e[2] = 1; e[3] = 12;     /* PadN */
			pos += 16;
		}
	}
	*nh = 6;
	pos += put_tcp(p + pos);
	put16(p + 4, (uint16_t)(pos - 40));
	return pos;
}

static size_t put_eth(uint8_t *p, const uint16_t *tags, size_t ntags, uint16_t type)
{
	memset(p, 0, 12);
	p[0] = 0x52; p[5] = 1; p[6] = 0x52; p[11] = 2;
	size_t pos = 12;
	for (size_t i = 0; i < ntags; i++) {
		put16(p + pos, i == 0 ? 0x88a8 : 0x8100);
		put16(p + pos + 2, (uint16_t)(0x2000 | tags[i]));  /* PCP bits set */
		pos += 4;
	}
	put16(p + pos, type);
	return pos + 2;
}

static void check_tcp(const struct decoded_pkt *d, int family)
{
	assert_int_equal(d->family, family);
	assert_int_equal(d->sport, 40000);
	assert_int_equal(d->dport, 25);
	assert_int_equal(d->seq, 0x11223344);
	assert_int_equal(d->ack, 0x55667788);
	assert_int_equal(d->flags, DECODE_TH_ACK | DECODE_TH_PSH);
	assert_int_equal(d->window, 29200);
	assert_int_equal(d->payload_len, PAYLOAD_LEN);
	assert_int_equal(d->payload_wire_len, PAYLOAD_LEN);
	assert_memory_equal(d->payload, PAYLOAD, PAYLOAD_LEN);
	if (family == 4) {
		static const uint8_t s[16] = { 198, 18, 0, 1 }, t[16] = { 198, 19, 0, 2 };
		assert_memory_equal(d->src, s, 16);
		assert_memory_equal(d->dst, t, 16);
	} else {
		assert_int_equal(d->src[0], 0x20);
		assert_int_equal(d->src[15], 1);
		assert_int_equal(d->dst[15], 2);
	}
}

/*
 * Decode frame at every caplen below its full length (wirelen full, then
 * wirelen == caplen): must never succeed before the TCP header is complete,
 * and must say TRUNCATED or MALFORMED.  Beyond the TCP header it succeeds
 * with a short payload.  hdr_end: offset where the payload starts.
 */
static void check_truncations(int dlt, const uint8_t *frame, size_t len, size_t hdr_end)
{
	for (size_t cut = 0; cut < len; cut++) {
		for (int mode = 0; mode < 2; mode++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			struct decoded_pkt d;
			memset(&d, 0xa5, sizeof(d));
			memcpy(copy, frame, cut);
			uint32_t wire = mode == 0 ? (uint32_t)len : (uint32_t)cut;
			enum decode_result r = decode_packet(dlt, copy, (uint32_t)cut, wire, &d);
			if (cut < hdr_end) {
				if (r != DECODE_TRUNCATED && r != DECODE_MALFORMED)
					fail_msg("dlt %d cut %zu mode %d: %s", dlt, cut, mode,
						 decode_result_name(r));
				assert_int_equal(d.family, 0xa5);   /* untouched */
			} else if (mode == 0) {
				assert_int_equal(r, DECODE_OK);
				assert_int_equal(d.payload_len, cut - hdr_end);
				assert_int_equal(d.payload_wire_len, len - hdr_end);
			} else {
				/* wire shorter than the IP length claims: a lie */
				assert_int_equal(r, DECODE_MALFORMED);
			}
			free(copy);
		}
	}
}

static void test_ethernet_ipv4(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;
	size_t l = put_eth(f, NULL, 0, 0x0800);
	size_t n = l + put_ipv4(f + l, 6, 0x4000);  /* DF is not a fragment */

	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 4);
	assert_int_equal(d.vlan_count, 0);
	assert_int_equal(d.ifindex, -1);
	assert_int_equal(d.mac_flags, DECODE_MAC_SRC | DECODE_MAC_DST);
	assert_memory_equal(d.dst_mac, ((const uint8_t[6]){ 0x52, 0, 0, 0, 0, 1 }), 6);
	assert_memory_equal(d.src_mac, ((const uint8_t[6]){ 0x52, 0, 0, 0, 0, 2 }), 6);
	check_truncations(DECODE_DLT_EN10MB, f, n, l + 20 + 32);

	/* Ethernet padding after the IP packet is not payload */
	memset(f + n, 0, 20);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n + 20, (uint32_t)n + 20, &d),
			 DECODE_OK);
	assert_int_equal(d.payload_len, PAYLOAD_LEN);
	assert_int_equal(d.payload_wire_len, PAYLOAD_LEN);
}

static void test_vlan_stacks(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;
	uint16_t tags[3] = { 100, 200, 4095 };

	for (size_t nt = 1; nt <= 3; nt++) {
		size_t l = put_eth(f, tags, nt, 0x0800);
		size_t n = l + put_ipv4(f + l, 6, 0);
		assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d),
				 DECODE_OK);
		check_tcp(&d, 4);
		assert_int_equal(d.vlan_count, nt);
		assert_int_equal(d.vlan[0], 100);
		if (nt > 1)
			assert_int_equal(d.vlan[1], 200);
		check_truncations(DECODE_DLT_EN10MB, f, n, l + 20 + 32);
	}
	/* 0x9100 as an outer tag, and IPv6 inside */
	size_t l = put_eth(f, tags, 1, 0x86dd);
	put16(f + 12, 0x9100);
	size_t n = l + put_ipv6(f + l, NULL, 0);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	assert_int_equal(d.vlan_count, 1);
	assert_int_equal(d.vlan[0], 100);
}

static void test_not_tcp(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;
	size_t l = put_eth(f, NULL, 0, 0x0806);   /* ARP */
	memset(f + l, 0, 28);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)l + 28, (uint32_t)l + 28, &d),
			 DECODE_NOT_TCP);
	put16(f + 12, 0x0040);                     /* 802.3 length */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)l + 28, (uint32_t)l + 28, &d),
			 DECODE_NOT_TCP);
	l = put_eth(f, NULL, 0, 0x0800);
	size_t n = l + put_ipv4(f + l, 17, 0);     /* UDP */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_NOT_TCP);
	assert_int_equal(decode_packet(99, f, (uint32_t)n, (uint32_t)n, &d), DECODE_UNSUPPORTED);
	assert_false(decode_dlt_supported(99));
	assert_true(decode_dlt_supported(DECODE_DLT_LINUX_SLL2));
}

static void test_ipv4_fragments_and_malformed(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;
	size_t l = put_eth(f, NULL, 0, 0x0800);
	size_t n;

	n = l + put_ipv4(f + l, 6, 0x2000);        /* MF */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_FRAGMENT);
	n = l + put_ipv4(f + l, 6, 0x0010);        /* offset 128 */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_FRAGMENT);
	n = l + put_ipv4(f + l, 17, 0x2000);       /* UDP fragment */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_NOT_TCP);

	n = l + put_ipv4(f + l, 6, 0);
	f[l] = 0x44;                                /* IHL 4 */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	f[l] = 0x55;                                /* version 5 */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	f[l] = 0x4f;                                /* IHL 60 > total length */
	put16(f + l + 2, 40);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);

	n = l + put_ipv4(f + l, 6, 0);
	put16(f + l + 2, (uint16_t)(n - l + 1));    /* total length > frame */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	put16(f + l + 2, 20 + 19);                  /* TCP shorter than its minimum */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	put16(f + l + 2, 20 + 31);                  /* TCP options beyond total length */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	put16(f + l + 2, 20 + 32);                  /* no payload: fine */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	assert_int_equal(d.payload_len, 0);
	assert_int_equal(d.payload_wire_len, 0);

	n = l + put_ipv4(f + l, 6, 0);
	f[l + 20 + 12] = 4 << 4;                    /* data offset 4 */
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);

	/* total length 0 (TSO capture): the frame length is used */
	n = l + put_ipv4(f + l, 6, 0);
	put16(f + l + 2, 0);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	assert_int_equal(d.payload_wire_len, PAYLOAD_LEN);

	/* snaplen cut into the payload */
	n = l + put_ipv4(f + l, 6, 0);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n - 5, (uint32_t)n, &d), DECODE_OK);
	assert_int_equal(d.payload_len, PAYLOAD_LEN - 5);
	assert_int_equal(d.payload_wire_len, PAYLOAD_LEN);
}

static void test_ipv6_ext_headers(void **state)
{
	uint8_t f[512];
	struct decoded_pkt d;
	static const uint8_t chain[] = { 0, 60, 43, 44, 51, 60 };
	size_t l = put_eth(f, NULL, 0, 0x86dd);
	size_t n = l + put_ipv6(f + l, chain, sizeof(chain));

	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	check_truncations(DECODE_DLT_EN10MB, f, n, n - PAYLOAD_LEN);

	/* a real fragment: offset != 0, or M set */
	size_t fo = l + 40 + 16 + 16 + 16;          /* the fragment header */
	assert_int_equal(f[fo - 16], 44);           /* routing header's next */
	put16(f + fo + 2, 0x0001);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_FRAGMENT);
	put16(f + fo + 2, 0x0100);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_FRAGMENT);
	f[fo] = 17;
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_NOT_TCP);

	/* chain longer than the cap */
	static const uint8_t longchain[] = { 0, 60, 60, 60, 60, 60, 60, 60, 60 };
	n = l + put_ipv6(f + l, longchain, sizeof(longchain));
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	n = l + put_ipv6(f + l, longchain, 8);
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);

	/* ext header longer than the payload length */
	n = l + put_ipv6(f + l, chain, 1);
	f[l + 41] = 200;
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);

	/* UDP, no next header, ESP */
	static const uint8_t others[] = { 17, 59, 50, 58 };
	for (size_t i = 0; i < sizeof(others); i++) {
		n = l + put_ipv6(f + l, NULL, 0);
		f[l + 6] = others[i];
		assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d),
				 DECODE_NOT_TCP);
	}
	/* payload length beyond the frame */
	n = l + put_ipv6(f + l, NULL, 0);
	put16(f + l + 4, (uint16_t)(n - l - 40 + 1));
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	/* version mismatch */
	n = l + put_ipv6(f + l, NULL, 0);
	f[l] = 0x40;
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
}

static void test_sll(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;

	memset(f, 0, 16);
	put16(f + 2, 1);        /* ARPHRD_ETHER */
	put16(f + 4, 6);
	f[6] = 0x52; f[11] = 9; /* the sender's MAC */
	put16(f + 14, 0x0800);
	size_t n = 16 + put_ipv4(f + 16, 6, 0);
	assert_int_equal(decode_packet(DECODE_DLT_LINUX_SLL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 4);
	assert_int_equal(d.ifindex, -1);
	assert_int_equal(d.mac_flags, DECODE_MAC_SRC);
	assert_memory_equal(d.src_mac, ((const uint8_t[6]){ 0x52, 0, 0, 0, 0, 9 }), 6);
	check_truncations(DECODE_DLT_LINUX_SLL, f, n, 16 + 20 + 32);

	/* VLAN tag re-inserted by libpcap after the SLL header */
	put16(f + 14, 0x8100);
	put16(f + 16, 42);
	put16(f + 18, 0x86dd);
	n = 20 + put_ipv6(f + 20, NULL, 0);
	assert_int_equal(decode_packet(DECODE_DLT_LINUX_SLL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	assert_int_equal(d.vlan_count, 1);
	assert_int_equal(d.vlan[0], 42);
}

static void test_sll2(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;

	memset(f, 0, 20);
	put16(f, 0x86dd);
	put32(f + 4, 7);        /* ifindex */
	put16(f + 8, 1);
	f[11] = 6;
	size_t n = 20 + put_ipv6(f + 20, NULL, 0);
	assert_int_equal(decode_packet(DECODE_DLT_LINUX_SLL2, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	assert_int_equal(d.ifindex, 7);
	assert_int_equal(d.mac_flags, DECODE_MAC_SRC);
	f[11] = 0;              /* no link-layer address */
	assert_int_equal(decode_packet(DECODE_DLT_LINUX_SLL2, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	assert_int_equal(d.mac_flags, 0);
	f[11] = 6;
	check_truncations(DECODE_DLT_LINUX_SLL2, f, n, 20 + 40 + 32);
}

static void test_raw_and_null(void **state)
{
	uint8_t f[256];
	struct decoded_pkt d;
	size_t n;

	n = put_ipv4(f, 6, 0);
	for (int dlt = 0; dlt < 2; dlt++) {
		int k = dlt ? DECODE_DLT_RAW_ALT : DECODE_DLT_RAW;
		assert_int_equal(decode_packet(k, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
		check_tcp(&d, 4);
		check_truncations(k, f, n, 20 + 32);
	}
	assert_int_equal(decode_packet(DECODE_DLT_IPV4, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 4);
	check_truncations(DECODE_DLT_IPV4, f, n, 20 + 32);
	assert_int_equal(decode_packet(DECODE_DLT_IPV6, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);

	n = put_ipv6(f, NULL, 0);
	assert_int_equal(decode_packet(DECODE_DLT_RAW, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	assert_int_equal(decode_packet(DECODE_DLT_IPV6, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 6);
	check_truncations(DECODE_DLT_IPV6, f, n, 40 + 32);
	assert_int_equal(decode_packet(DECODE_DLT_IPV4, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);
	f[0] = 0x50;
	assert_int_equal(decode_packet(DECODE_DLT_RAW, f, (uint32_t)n, (uint32_t)n, &d), DECODE_MALFORMED);

	/* DLT_NULL, little-endian writer, IPv4 */
	memset(f, 0, 4);
	f[0] = 2;
	n = 4 + put_ipv4(f + 4, 6, 0);
	assert_int_equal(decode_packet(DECODE_DLT_NULL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 4);
	check_truncations(DECODE_DLT_NULL, f, n, 4 + 20 + 32);
	/* DLT_NULL, big-endian writer, IPv6 (BSD 24, FreeBSD 28, macOS 30) */
	static const uint8_t af6[] = { 24, 28, 30 };
	for (size_t i = 0; i < sizeof(af6); i++) {
		memset(f, 0, 4);
		f[3] = af6[i];
		n = 4 + put_ipv6(f + 4, NULL, 0);
		assert_int_equal(decode_packet(DECODE_DLT_NULL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
		check_tcp(&d, 6);
		f[0] = af6[i];
		f[3] = 0;
		assert_int_equal(decode_packet(DECODE_DLT_NULL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	}
	/* DLT_LOOP is network order */
	memset(f, 0, 4);
	f[3] = 2;
	n = 4 + put_ipv4(f + 4, 6, 0);
	assert_int_equal(decode_packet(DECODE_DLT_LOOP, f, (uint32_t)n, (uint32_t)n, &d), DECODE_OK);
	check_tcp(&d, 4);
	check_truncations(DECODE_DLT_LOOP, f, n, 4 + 20 + 32);
	f[3] = 0; f[0] = 2;
	assert_int_equal(decode_packet(DECODE_DLT_LOOP, f, (uint32_t)n, (uint32_t)n, &d), DECODE_NOT_TCP);
	/* unknown family */
	memset(f, 0, 4);
	f[0] = 7;
	assert_int_equal(decode_packet(DECODE_DLT_NULL, f, (uint32_t)n, (uint32_t)n, &d), DECODE_NOT_TCP);
}

static void test_names(void **state)
{
	assert_string_equal(decode_result_name(DECODE_OK), "ok");
	assert_string_equal(decode_result_name(DECODE_TRUNCATED), "truncated");
	assert_string_equal(decode_result_name(DECODE_UNSUPPORTED), "unsupported");
	assert_string_equal(decode_result_name((enum decode_result)99), "unknown");
	struct decoded_pkt d;
	assert_int_equal(decode_packet(DECODE_DLT_EN10MB, NULL, 0, 0, &d), DECODE_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet_ipv4),
		cmocka_unit_test(test_vlan_stacks),
		cmocka_unit_test(test_not_tcp),
		cmocka_unit_test(test_ipv4_fragments_and_malformed),
		cmocka_unit_test(test_ipv6_ext_headers),
		cmocka_unit_test(test_sll),
		cmocka_unit_test(test_sll2),
		cmocka_unit_test(test_raw_and_null),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
