/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the capture filter (bpf/capture.filter, expanded by
 * agent/bpffilter.c): the text is compiled with pcap_compile() on a dead
 * DLT_EN10MB handle and run with pcap_offline_filter() over hand-built
 * frames, asserting exactly which pass.  Also: the template expander's
 * errors, the kernel's program-size limit, and that the embedded template
 * is the file in the tree.
 */
#include "testutil.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "bpffilter.h"

/* ---- frame builder --------------------------------------------------- */

struct frame {
	uint8_t b[512];
	size_t n;
};

enum { C2S, S2C };

static void put8(struct frame *f, uint8_t v) { f->b[f->n++] = v; }
static void put16(struct frame *f, uint16_t v) { put8(f, v >> 8); put8(f, v & 0xff); }
static void putz(struct frame *f, size_t n) { while (n--) put8(f, 0); }

/* Ethernet with tags (TPIDs, outermost first) and the final ethertype. */
static void eth(struct frame *f, const uint16_t *tpids, int ntags, uint16_t type)
{
	static const uint8_t mac[12] = { 0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0xaa, 0, 2 };

	f->n = 0;
	memcpy(f->b, mac, 12);
	f->n = 12;
	for (int i = 0; i < ntags; i++) {
		put16(f, tpids[i]);
		put16(f, (uint16_t)(100 + i));          /* VID */
	}
	put16(f, type);
}

/* IPv4 header, 20 bytes (+4 bytes of NOP options when opts). */
static void ip4(struct frame *f, uint8_t proto, uint16_t frag, bool opts)
{
	put8(f, opts ? 0x46 : 0x45);
	put8(f, 0);
	put16(f, 200);                  /* total length: not checked by BPF */
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put8(f, 198); put8(f, 18); put8(f, 0); put8(f, 2);
	put8(f, 198); put8(f, 19); put8(f, 0); put8(f, 25);
	if (opts) {
		put8(f, 1); put8(f, 1); put8(f, 1); put8(f, 0);
	}
}

static void ip6(struct frame *f, uint8_t nh)
{
	put8(f, 0x60); put8(f, 0); put16(f, 0);
	put16(f, 100);
	put8(f, nh);
	put8(f, 64);
	put16(f, 0xfd00); putz(f, 12); put16(f, 2);
	put16(f, 0xfd00); putz(f, 12); put16(f, 0x25);
}

/* A hop-by-hop / routing / destination options header of 8*(len8+1) bytes. */
static void ext_opt(struct frame *f, uint8_t nh, uint8_t len8)
{
	put8(f, nh);
	put8(f, len8);
	putz(f, 6 + 8 * (size_t)len8);
}

static void ext_frag(struct frame *f, uint8_t nh, uint16_t offset8, bool more)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	put16(f, 0); put16(f, 0x4242);
}

/* AH: 4*(len4+2) bytes; len4 = 4 gives the usual 24 bytes. */
static void ext_ah(struct frame *f, uint8_t nh, uint8_t len4)
{
	put8(f, nh);
	put8(f, len4);
	putz(f, 2 + 4 * ((size_t)len4 + 2) - 4);
}

/* TCP (or UDP, same port layout) between client 40001 and server port. */
static void l4(struct frame *f, uint8_t proto, uint16_t port, int dir, uint8_t flags)
{
	put16(f, dir == C2S ? 40001 : port);
	put16(f, dir == C2S ? port : 40001);
	if (proto == 17) {
		put16(f, 8 + 4); put16(f, 0);
		put8(f, 'a'); put8(f, 'b'); put8(f, 'c'); put8(f, 'd');
		return;
	}
	put16(f, 0); put16(f, 1);       /* seq */
	put16(f, 0); put16(f, 0);       /* ack */
	put8(f, 0x50);
	put8(f, flags);
	put16(f, 65535); put16(f, 0); put16(f, 0);
	if (flags != 0x02) {
		put8(f, 'E'); put8(f, 'H'); put8(f, 'L'); put8(f, 'O');
	}
}

static const uint16_t T8100[] = { 0x8100 };
static const uint16_t TQINQ[] = { 0x88a8, 0x8100 };
static const uint16_t T9100[] = { 0x9100, 0x8100 };
static const uint16_t T3[] = { 0x88a8, 0x8100, 0x8100 };

#define SYN 0x02
#define PSHACK 0x18

static struct frame v4_tcp(const uint16_t *tags, int ntags, uint16_t port, int dir, uint8_t flags)
{
	struct frame f;

	eth(&f, tags, ntags, 0x0800);
	ip4(&f, 6, 0x4000, false);
	l4(&f, 6, port, dir, flags);
	return f;
}

static struct frame v6_tcp(const uint16_t *tags, int ntags, uint16_t port, int dir, uint8_t flags)
{
	struct frame f;

	eth(&f, tags, ntags, 0x86dd);
	ip6(&f, 6);
	l4(&f, 6, port, dir, flags);
	return f;
}

/* ---- filter harness -------------------------------------------------- */

struct compiled {
	pcap_t *p;
	struct bpf_program prog;
};

static void compile_ports(struct compiled *c, const uint16_t *ports, size_t n)
{
	static char text[BPFFILTER_TEXT_MAX];

	assert_int_equal(bpffilter_text(ports, n, BPFFILTER_ANY_DIRECTION, text, sizeof(text)), 0);
	c->p = pcap_open_dead(DLT_EN10MB, 262144);
	assert_non_null(c->p);
	if (pcap_compile(c->p, &c->prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		fprintf(stderr, "pcap_compile: %s\n%s\n", pcap_geterr(c->p), text);
		fail();
	}
}

static void release(struct compiled *c)
{
	pcap_freecode(&c->prog);
	pcap_close(c->p);
}

static bool passes(struct compiled *c, const struct frame *f)
{
	struct pcap_pkthdr h = { .caplen = (bpf_u_int32)f->n, .len = (bpf_u_int32)f->n };

	return pcap_offline_filter(&c->prog, &h, f->b) != 0;
}

#define PASS(c, fr) do { struct frame f_ = (fr); assert_true(passes((c), &f_)); } while (0)
#define DROP(c, fr) do { struct frame f_ = (fr); assert_false(passes((c), &f_)); } while (0)

/* ---- tests ----------------------------------------------------------- */

static void test_port25_plain(void **state)
{
	const uint16_t ports[] = { 25 };
	struct compiled c;

	(void)state;
	compile_ports(&c, ports, 1);
	PASS(&c, v4_tcp(NULL, 0, 25, C2S, SYN));
	PASS(&c, v6_tcp(NULL, 0, 25, C2S, SYN));
	PASS(&c, v4_tcp(NULL, 0, 25, C2S, PSHACK));
	PASS(&c, v4_tcp(NULL, 0, 25, S2C, PSHACK));
	PASS(&c, v6_tcp(NULL, 0, 25, C2S, PSHACK));
	PASS(&c, v6_tcp(NULL, 0, 25, S2C, PSHACK));
	DROP(&c, v4_tcp(NULL, 0, 80, C2S, SYN));
	DROP(&c, v6_tcp(NULL, 0, 80, S2C, PSHACK));
	DROP(&c, v4_tcp(NULL, 0, 587, C2S, SYN));      /* not configured */
	DROP(&c, v6_tcp(NULL, 0, 587, C2S, SYN));
	DROP(&c, v4_tcp(NULL, 0, 465, C2S, SYN));
	/* IPv4 options: libpcap follows the IHL */
	struct frame f;

	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 6, 0, true);
	l4(&f, 6, 25, C2S, SYN);
	PASS(&c, f);
	release(&c);
}

static void test_vlan(void **state)
{
	const uint16_t ports[] = { 25 };
	struct compiled c;

	(void)state;
	compile_ports(&c, ports, 1);
	PASS(&c, v4_tcp(T8100, 1, 25, C2S, SYN));
	PASS(&c, v6_tcp(T8100, 1, 25, S2C, PSHACK));
	PASS(&c, v4_tcp(TQINQ, 2, 25, C2S, SYN));
	PASS(&c, v6_tcp(TQINQ, 2, 25, C2S, PSHACK));
	PASS(&c, v4_tcp(T9100, 2, 25, S2C, PSHACK));
	DROP(&c, v4_tcp(T8100, 1, 80, C2S, SYN));
	DROP(&c, v6_tcp(TQINQ, 2, 80, C2S, SYN));
	/* three tags: documented as not captured */
	DROP(&c, v4_tcp(T3, 3, 25, C2S, SYN));

	struct frame f;

	eth(&f, T8100, 1, 0x0800);              /* UDP 25 under a tag */
	ip4(&f, 17, 0, false);
	l4(&f, 17, 25, C2S, 0);
	DROP(&c, f);
	eth(&f, TQINQ, 2, 0x86dd);              /* IPv6 HBH + TCP 25 under QinQ */
	ip6(&f, 0);
	ext_opt(&f, 6, 0);
	l4(&f, 6, 25, C2S, SYN);
	PASS(&c, f);
	release(&c);
}

static void test_other_protocols(void **state)
{
	const uint16_t ports[] = { 25 };
	struct compiled c;
	struct frame f;

	(void)state;
	compile_ports(&c, ports, 1);
	eth(&f, NULL, 0, 0x0800);               /* UDP 25 */
	ip4(&f, 17, 0, false);
	l4(&f, 17, 25, C2S, 0);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 17);
	l4(&f, 17, 25, S2C, 0);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x0800);               /* ICMP echo */
	ip4(&f, 1, 0, false);
	put8(&f, 8); put8(&f, 0); put16(&f, 0); put16(&f, 25); put16(&f, 25);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x86dd);               /* ICMPv6 echo */
	ip6(&f, 58);
	put8(&f, 128); put8(&f, 0); put16(&f, 0); put16(&f, 25); put16(&f, 25);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x86dd);               /* MLD: hop-by-hop + ICMPv6 */
	ip6(&f, 0);
	ext_opt(&f, 58, 0);
	put8(&f, 143); put8(&f, 0); putz(&f, 22);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x0806);               /* ARP request */
	put16(&f, 1); put16(&f, 0x0800); put8(&f, 6); put8(&f, 4); put16(&f, 1);
	putz(&f, 20);
	DROP(&c, f);
	eth(&f, T8100, 1, 0x0806);
	put16(&f, 1); put16(&f, 0x0800); put8(&f, 6); put8(&f, 4); put16(&f, 1);
	putz(&f, 20);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x0800);               /* Ethernet header only */
	DROP(&c, f);
	eth(&f, NULL, 0, 0x0800);               /* GRE carrying nothing we read */
	ip4(&f, 47, 0, false);
	putz(&f, 24);
	DROP(&c, f);
	release(&c);
}

static void test_fragments(void **state)
{
	const uint16_t ports[] = { 25 };
	struct compiled c;
	struct frame f;

	(void)state;
	compile_ports(&c, ports, 1);
	/* IPv4 first fragment (MF, offset 0) carries the ports: checked */
	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 6, 0x2000, false);
	l4(&f, 6, 25, C2S, PSHACK);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 6, 0x2000, false);
	l4(&f, 6, 80, C2S, PSHACK);
	DROP(&c, f);
	/* later TCP fragments: no ports, passed to the decoder */
	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 6, 0x0010, false);
	putz(&f, 40);
	PASS(&c, f);
	eth(&f, T8100, 1, 0x0800);
	ip4(&f, 6, 0x2020, false);
	putz(&f, 40);
	PASS(&c, f);
	/* later UDP fragments are not */
	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 17, 0x0010, false);
	putz(&f, 40);
	DROP(&c, f);
	/* IPv6: first fragment checked, later TCP fragments passed */
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 44);
	ext_frag(&f, 6, 0, true);
	l4(&f, 6, 25, C2S, PSHACK);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 44);
	ext_frag(&f, 6, 0, true);
	l4(&f, 6, 80, S2C, PSHACK);
	DROP(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 44);
	ext_frag(&f, 6, 0, false);              /* atomic fragment */
	l4(&f, 6, 25, S2C, PSHACK);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 44);
	ext_frag(&f, 6, 185, false);
	putz(&f, 40);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 44);
	ext_frag(&f, 17, 185, false);
	putz(&f, 40);
	DROP(&c, f);
	release(&c);
}

static void test_ipv6_extension_headers(void **state)
{
	const uint16_t ports[] = { 25 };
	struct compiled c;
	struct frame f;

	(void)state;
	compile_ports(&c, ports, 1);
	static const uint8_t opt_types[] = { 0, 43, 60 };

	for (size_t i = 0; i < 3; i++) {
		for (uint8_t len8 = 0; len8 < 3; len8++) {
			eth(&f, NULL, 0, 0x86dd);
			ip6(&f, opt_types[i]);
			ext_opt(&f, 6, len8);
			l4(&f, 6, 25, len8 & 1 ? S2C : C2S, SYN);
			PASS(&c, f);
			eth(&f, NULL, 0, 0x86dd);
			ip6(&f, opt_types[i]);
			ext_opt(&f, 6, len8);
			l4(&f, 6, 80, C2S, SYN);
			DROP(&c, f);
			eth(&f, NULL, 0, 0x86dd);       /* options then UDP 25 */
			ip6(&f, opt_types[i]);
			ext_opt(&f, 17, len8);
			l4(&f, 17, 25, C2S, 0);
			DROP(&c, f);
		}
	}
	eth(&f, NULL, 0, 0x86dd);               /* AH (24 bytes) */
	ip6(&f, 51);
	ext_ah(&f, 6, 4);
	l4(&f, 6, 25, C2S, SYN);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 51);
	ext_ah(&f, 6, 4);
	l4(&f, 6, 80, C2S, SYN);
	DROP(&c, f);
	/* two extension headers: passed without a port check (documented) */
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 0);
	ext_opt(&f, 60, 0);
	ext_opt(&f, 6, 0);
	l4(&f, 6, 80, C2S, SYN);
	PASS(&c, f);
	/* ESP: cannot be read */
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 50);
	putz(&f, 48);
	DROP(&c, f);
	release(&c);
}

static void test_two_ports(void **state)
{
	const uint16_t ports[] = { 25, 587 };
	struct compiled c;
	struct frame f;

	(void)state;
	compile_ports(&c, ports, 2);
	PASS(&c, v4_tcp(NULL, 0, 587, C2S, SYN));
	PASS(&c, v6_tcp(NULL, 0, 587, S2C, PSHACK));
	PASS(&c, v4_tcp(TQINQ, 2, 587, C2S, SYN));
	PASS(&c, v4_tcp(T8100, 1, 25, C2S, SYN));
	DROP(&c, v4_tcp(NULL, 0, 80, C2S, SYN));
	DROP(&c, v6_tcp(T8100, 1, 465, C2S, SYN));
	eth(&f, NULL, 0, 0x86dd);
	ip6(&f, 60);
	ext_opt(&f, 6, 1);
	l4(&f, 6, 587, S2C, PSHACK);
	PASS(&c, f);
	eth(&f, NULL, 0, 0x0800);
	ip4(&f, 17, 0, false);
	l4(&f, 17, 587, C2S, 0);
	DROP(&c, f);
	release(&c);
}

/* The kernel refuses programs above BPF_MAXINSNS (4096); libpcap would then
 * filter in user space, copying every packet of the tap. */
static void test_program_size(void **state)
{
	uint16_t ports[BPFFILTER_MAX_PORTS];
	struct compiled c;

	(void)state;
	for (size_t i = 0; i < BPFFILTER_MAX_PORTS; i++)
		ports[i] = (uint16_t)(60000 + i);
	compile_ports(&c, ports, BPFFILTER_MAX_PORTS);
	assert_true(c.prog.bf_len < 4096);
	PASS(&c, v6_tcp(TQINQ, 2, 60015, C2S, SYN));
	DROP(&c, v6_tcp(TQINQ, 2, 25, C2S, SYN));
	release(&c);
}

static void test_text_and_errors(void **state)
{
	const uint16_t p2[] = { 25, 587 };
	const uint16_t p0[] = { 25, 0 };
	uint16_t many[BPFFILTER_MAX_PORTS + 1] = { 25 };
	char buf[BPFFILTER_TEXT_MAX];
	char small[64];

	(void)state;
	for (size_t i = 0; i < BPFFILTER_MAX_PORTS + 1; i++)
		many[i] = (uint16_t)(25 + i);
	assert_int_equal(bpffilter_text(p2, 2, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "tcp port (25 or 587)"));
	assert_null(strchr(buf, '@'));
	assert_null(strchr(buf, '#'));
	assert_null(strchr(buf, '\n'));
	assert_int_equal(bpffilter_text(p2, 0, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(bpffilter_text(p0, 2, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(bpffilter_text(many, BPFFILTER_MAX_PORTS + 1, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(bpffilter_text(p2, 2, BPFFILTER_ANY_DIRECTION, small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, "");

	/* the template language */
	assert_int_equal(bpffilter_expand("tcp port (@PORTS@) # c\n", p2, 2, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tcp port (25 or 587)");
	assert_int_equal(bpffilter_expand("@define A\n  ip\n@end\nvlan and @A@ or @PORTAT(40)@",
					  p2, 1, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "vlan and (ip) or (ip6[40:2] = 25 or ip6[(40) + 2:2] = 25)");
	static const char *const bad[] = {
		"", "# only a comment\n", "@NOPE@", "tcp port @PORTS", "@PORTAT(40@",
		"@PORTAT(40)", "@define A\nip\n", "@end\n", "@define A\n@define B\n@end\n",
		"@define a\nip\n@end\n@a@", "@define A x\nip\n@end\n@A@", "@ports@", "@@",
		"@define A\n@A@\n@end\n@A@",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = bpffilter_expand(bad[i], p2, 2, BPFFILTER_ANY_DIRECTION, buf, sizeof(buf));

		if (r != -EINVAL)
			fprintf(stderr, "template %zu: %d\n", i, r);
		assert_int_equal(r, -EINVAL);
		assert_string_equal(buf, "");
	}
}

/* Replace every whole word `word` of text by `with` (in place, text has
 * room: cap bytes). */
static void subst_word(char *text, size_t cap, const char *word, const char *with)
{
	static char out[2 * BPFFILTER_TEXT_MAX];
	size_t wl = strlen(word), o = 0;

	for (const char *p = text; *p;) {
		bool start = p == text || !(p[-1] >= 'a' && p[-1] <= 'z');
		if (start && strncmp(p, word, wl) == 0 && !(p[wl] >= 'a' && p[wl] <= 'z')) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", with);
			p += wl;
		} else {
			out[o++] = *p++;
		}
		assert_true(o < sizeof(out));
	}
	out[o] = '\0';
	assert_true(o < cap);
	memcpy(text, out, o + 1);
}

/* Compile the guest-client filter as if every frame had the direction
 * `guest_sent` (inbound/outbound become constants: a dead handle cannot
 * read the kernel's packet type). */
static void compile_guest(struct compiled *c, const uint16_t *ports, size_t n, bool guest_sent)
{
	static char text[BPFFILTER_TEXT_MAX];

	assert_int_equal(bpffilter_text(ports, n, BPFFILTER_GUEST_CLIENT, text, sizeof(text)), 0);
	subst_word(text, sizeof(text), "inbound", guest_sent ? "(1 = 1)" : "(1 = 0)");
	subst_word(text, sizeof(text), "outbound", guest_sent ? "(1 = 0)" : "(1 = 1)");
	c->p = pcap_open_dead(DLT_EN10MB, 262144);
	assert_non_null(c->p);
	if (pcap_compile(c->p, &c->prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		fprintf(stderr, "pcap_compile: %s\n%s\n", pcap_geterr(c->p), text);
		fail();
	}
}

/* Live filter: only connections the guest opened.  C2S frames carry the
 * watched port as destination, S2C frames as source (see l4()). */
static void test_guest_client_direction(void **state)
{
	const uint16_t ports[] = { 25, 587 };
	static char text[BPFFILTER_TEXT_MAX];
	uint16_t many[BPFFILTER_MAX_PORTS];
	struct compiled c;
	pcap_t *p;
	struct bpf_program prog;

	(void)state;
	/* frames the guest sent (inbound on the host's side of the tap) */
	compile_guest(&c, ports, 2, true);
	PASS(&c, v4_tcp(NULL, 0, 25, C2S, SYN));
	PASS(&c, v4_tcp(NULL, 0, 587, C2S, PSHACK));
	PASS(&c, v6_tcp(NULL, 0, 25, C2S, SYN));
	PASS(&c, v4_tcp(TQINQ, 2, 25, C2S, PSHACK));
	PASS(&c, v6_tcp(T8100, 1, 25, C2S, PSHACK));
	DROP(&c, v4_tcp(NULL, 0, 25, S2C, PSHACK));    /* the guest is the server */
	DROP(&c, v6_tcp(NULL, 0, 25, S2C, SYN));
	DROP(&c, v4_tcp(TQINQ, 2, 25, S2C, PSHACK));
	DROP(&c, v4_tcp(NULL, 0, 80, C2S, SYN));
	release(&c);
	/* frames sent to the guest (outbound) */
	compile_guest(&c, ports, 2, false);
	PASS(&c, v4_tcp(NULL, 0, 25, S2C, PSHACK));
	PASS(&c, v6_tcp(NULL, 0, 587, S2C, PSHACK));
	PASS(&c, v4_tcp(T8100, 1, 25, S2C, PSHACK));
	DROP(&c, v4_tcp(NULL, 0, 25, C2S, SYN));       /* someone connects to the guest */
	DROP(&c, v6_tcp(TQINQ, 2, 25, C2S, SYN));
	DROP(&c, v4_tcp(NULL, 0, 80, S2C, PSHACK));
	release(&c);
	/* the real text compiles as it is, within the kernel's limit */
	for (size_t i = 0; i < BPFFILTER_MAX_PORTS; i++)
		many[i] = (uint16_t)(60000 + i);
	assert_int_equal(bpffilter_text(many, BPFFILTER_MAX_PORTS, BPFFILTER_GUEST_CLIENT, text,
					sizeof(text)), 0);
	assert_non_null(strstr(text, "inbound and tcp dst port (60000 or 60001"));
	assert_non_null(strstr(text, "outbound and tcp src port (60000 or 60001"));
	p = pcap_open_dead(DLT_EN10MB, 262144);
	assert_non_null(p);
	assert_int_equal(pcap_compile(p, &prog, text, 1, PCAP_NETMASK_UNKNOWN), 0);
	assert_true(prog.bf_len < 4096);
	pcap_freecode(&prog);
	pcap_close(p);
	assert_int_equal(bpffilter_text(ports, 2, (enum bpffilter_dir)7, text, sizeof(text)), -EINVAL);
}

/* The object embeds bpf/capture.filter with .incbin, which make's
 * dependency files do not track: fail when the build is stale. */
static void test_embedded_is_current(void **state)
{
	FILE *fp = fopen("bpf/capture.filter", "rb");
	static char disk[BPFFILTER_TEXT_MAX];
	size_t n;

	(void)state;
	if (fp == NULL) {
		skip();
		return;
	}
	n = fread(disk, 1, sizeof(disk) - 1, fp);
	fclose(fp);
	disk[n] = '\0';
	if (strcmp(disk, bpffilter_template()) != 0) {
		fprintf(stderr, "bpf/capture.filter changed after agent/bpffilter.o was built: "
			"rebuild it (touch agent/bpffilter.c)\n");
		fail();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port25_plain),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_other_protocols),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_ipv6_extension_headers),
		cmocka_unit_test(test_two_ports),
		cmocka_unit_test(test_program_size),
		cmocka_unit_test(test_text_and_errors),
		cmocka_unit_test(test_guest_client_direction),
		cmocka_unit_test(test_embedded_is_current),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
