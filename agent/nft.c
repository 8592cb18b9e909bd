/* SPDX-License-Identifier: MIT */
/*
 * nft: netlink transactions and dumps for tapwarden's own nftables table
 * (agent process, enforcement side; needs CAP_NET_ADMIN).  Messages are
 * built with libnftnl into one contiguous buffer and sent with one
 * sendmsg: the kernel runs the whole transaction inside that call, so every
 * reply is waiting on the socket when it returns.  See nft.h for the
 * ruleset.
 */
#include "nft.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#define SET_BLOCKED "blocked"
#define SET_PORTS   "ports"
#define CHAIN_PRIO  (-500)
#define LABEL_MAX   112
#define MSG_ROOM    8192            /* the largest message we build, with room */
#define NFT_TYPE_INET_SERVICE 13    /* nftables' datatype ids, for `nft list` */
#define NFT_TYPE_IFINDEX      20
#define REPLY_WAIT_MS 2000

struct nft {
	struct mnl_socket *req, *mon;
	uint32_t portid;
	uint32_t seq;
	int sndbuf, rcvbuf;
};

struct nft_batch {
	struct nft *n;
	char *buf;
	size_t len, cap;
	uint32_t seq0;                  /* BEGIN; message i has seq0 + 1 + i */
	char (*labels)[LABEL_MAX];
	size_t nmsgs, cap_labels;
	bool oom;
	/* element changes of one kind go into one message, up to
	 * ELEMS_PER_MSG, as nft does: a message per element costs the kernel
	 * a reply each */
	struct nftnl_set *pend;
	uint16_t pend_type;
	uint32_t pend_n, pend_first;
};

#define ELEMS_PER_MSG 128

static int fail(char *err, size_t cap, int rc, const char *what)
{
	snprintf(err, cap, "%s: %s", what, strerror(-rc));
	return rc;
}

int nft_open(struct nft **out, char *err, size_t cap)
{
	struct nft *n = calloc(1, sizeof(*n));
	int one = 1, r;

	*out = NULL;
	if (!n)
		return fail(err, cap, -ENOMEM, "nft");
	n->req = mnl_socket_open(NETLINK_NETFILTER);
	n->mon = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->req || !n->mon) {
		r = fail(err, cap, -errno, "netlink socket");
		goto bad;
	}
	if (mnl_socket_bind(n->req, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(n->mon, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
		r = fail(err, cap, -errno, "netlink bind");
		goto bad;
	}
	/* small ACKs (no copy of the request), and the kernel's error text */
	mnl_socket_setsockopt(n->req, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->req, NETLINK_EXT_ACK, &one, sizeof(one));
	n->portid = mnl_socket_get_portid(n->req);
	n->seq = (uint32_t)time(NULL);
	*out = n;
	return 0;
bad:
	nft_close(n);
	return r;
}

void nft_close(struct nft *n)
{
	if (!n)
		return;
	if (n->req)
		mnl_socket_close(n->req);
	if (n->mon)
		mnl_socket_close(n->mon);
	free(n);
}

int nft_monitor_fd(const struct nft *n)
{
	return mnl_socket_get_fd(n->mon);
}

static int gen_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NFTA_GEN_PROC_PID && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

int nft_monitor_read(struct nft *n)
{
	char buf[65536] __attribute__((aligned(8)));
	int changed = 0;
	uint32_t me = (uint32_t)getpid();

	for (;;) {
		ssize_t got = recv(mnl_socket_get_fd(n->mon), buf, sizeof(buf), MSG_DONTWAIT);

		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return changed;
			if (errno == ENOBUFS)   /* lost some: assume the worst */
				changed = 1;
			else
				return -errno;
			continue;
		}
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, (int)got);
		     h = mnl_nlmsg_next(h, (int *)&got)) {
			uint32_t pid = 0;

			if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
			    NFNL_MSG_TYPE(h->nlmsg_type) != NFT_MSG_NEWGEN)
				continue;
			/* every transaction ends with a new generation that
			 * names the process that committed it */
			mnl_attr_parse(h, sizeof(struct nfgenmsg), gen_attr_cb, &pid);
			if (pid != me)
				changed = 1;
		}
	}
}

/* ---- building a transaction ------------------------------------------------- */

static bool room(struct nft_batch *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more > b->cap) {
		size_t nc = b->cap ? b->cap : 65536;
		char *nb;

		while (nc < b->len + more)
			nc *= 2;
		nb = realloc(b->buf, nc);
		if (!nb) {
			b->oom = true;
			return false;
		}
		b->buf = nb;
		b->cap = nc;
	}
	return true;
}

struct nft_batch *nft_batch_new(struct nft *n)
{
	struct nft_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->n = n;
	b->seq0 = n->seq++;
	if (!room(b, MSG_ROOM)) {
		free(b);
		return NULL;
	}
	nftnl_batch_begin(b->buf, b->seq0);
	b->len = NLMSG_ALIGN(((struct nlmsghdr *)b->buf)->nlmsg_len);
	return b;
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	if (b->pend)
		nftnl_set_free(b->pend);
	free(b->buf);
	free(b->labels);
	free(b);
}

size_t nft_batch_count(const struct nft_batch *b)
{
	return b->nmsgs + (b->pend ? 1 : 0);
}

/* Start message type with flags (ACK always asked); NULL when out of memory. */
static struct nlmsghdr *msg_begin(struct nft_batch *b, uint16_t type, uint16_t flags, const char *label)
{
	struct nlmsghdr *h;

	if (!room(b, MSG_ROOM))
		return NULL;
	if (b->nmsgs == b->cap_labels) {
		size_t nc = b->cap_labels ? b->cap_labels * 2 : 64;
		void *nl = realloc(b->labels, nc * sizeof(*b->labels));

		if (!nl) {
			b->oom = true;
			return NULL;
		}
		b->labels = nl;
		b->cap_labels = nc;
	}
	snprintf(b->labels[b->nmsgs], LABEL_MAX, "%s", label);
	h = nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_NETDEV, flags | NLM_F_ACK,
				  b->seq0 + 1 + (uint32_t)b->nmsgs);
	return h;
}

static void msg_end(struct nft_batch *b, struct nlmsghdr *h)
{
	b->len += NLMSG_ALIGN(h->nlmsg_len);
	b->nmsgs++;
}

static struct nftnl_set *set_new(const char *name);

/* Write the pending element message, if any. */
static int pend_flush(struct nft_batch *b)
{
	char label[LABEL_MAX];
	struct nlmsghdr *h;

	if (!b->pend)
		return 0;
	snprintf(label, sizeof(label), "%s %u element%s from ifindex=%u",
		 b->pend_type == NFT_MSG_NEWSETELEM ? "add" : "delete", b->pend_n, b->pend_n == 1 ? "" : "s",
		 b->pend_first);
	h = msg_begin(b, b->pend_type, b->pend_type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, label);
	if (h) {
		nftnl_set_elems_nlmsg_build_payload(h, b->pend);
		msg_end(b, h);
	}
	nftnl_set_free(b->pend);
	b->pend = NULL;
	b->pend_n = 0;
	return h ? 0 : -ENOMEM;
}

static struct nftnl_set *set_new(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_NETDEV);
	return s;
}

int nft_batch_table(struct nft_batch *b, const uint16_t *ports, size_t n_ports)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_set *blocked = set_new(SET_BLOCKED), *pset = set_new(SET_PORTS);
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *h;
	int rc = -ENOMEM;

	if (pend_flush(b) < 0)
		return -ENOMEM;

	if (!t || !blocked || !pset || n_ports == 0 || n_ports > NFT_MAX_PORTS) {
		rc = n_ports == 0 || n_ports > NFT_MAX_PORTS ? -EINVAL : -ENOMEM;
		goto out;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_NETDEV);
	if (!(h = msg_begin(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "table netdev " NFT_TABLE)))
		goto out;
	nftnl_table_nlmsg_build_payload(h, t);
	msg_end(b, h);

	nftnl_set_set_u32(blocked, NFTNL_SET_KEY_LEN, sizeof(uint32_t));
	nftnl_set_set_u32(blocked, NFTNL_SET_KEY_TYPE, NFT_TYPE_IFINDEX);
	nftnl_set_set_u32(blocked, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
	nftnl_set_set_u32(blocked, NFTNL_SET_ID, 1);
	/* `nft list` prints interface indexes in host byte order only when
	 * the set says so (nftables' own user data: key byte order) */
	ud = nftnl_udata_buf_alloc(64);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1 /* host endian */))
		goto out;
	nftnl_set_set_data(blocked, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	if (!(h = msg_begin(b, NFT_MSG_NEWSET, NLM_F_CREATE, "set " SET_BLOCKED)))
		goto out;
	nftnl_set_nlmsg_build_payload(h, blocked);
	msg_end(b, h);

	nftnl_set_set_u32(pset, NFTNL_SET_KEY_LEN, sizeof(uint16_t));
	nftnl_set_set_u32(pset, NFTNL_SET_KEY_TYPE, NFT_TYPE_INET_SERVICE);
	nftnl_set_set_u32(pset, NFTNL_SET_ID, 2);
	if (!(h = msg_begin(b, NFT_MSG_NEWSET, NLM_F_CREATE, "set " SET_PORTS)))
		goto out;
	nftnl_set_nlmsg_build_payload(h, pset);
	msg_end(b, h);
	for (size_t i = 0; i < n_ports; i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		uint16_t port = htons(ports[i]);

		if (!e)
			goto out;
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &port, sizeof(port));
		nftnl_set_elem_add(pset, e);
	}
	if (!(h = msg_begin(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "set " SET_PORTS " elements")))
		goto out;
	nftnl_set_elems_nlmsg_build_payload(h, pset);
	msg_end(b, h);
	rc = 0;
out:
	if (ud)
		nftnl_udata_buf_free(ud);
	if (t)
		nftnl_table_free(t);
	if (blocked)
		nftnl_set_free(blocked);
	if (pset)
		nftnl_set_free(pset);
	return rc;
}

int nft_batch_delete_table(struct nft_batch *b)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *h;

	if (pend_flush(b) < 0)
		return -ENOMEM;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_NETDEV);
	h = msg_begin(b, NFT_MSG_DELTABLE, 0, "delete table netdev " NFT_TABLE);
	if (h) {
		nftnl_table_nlmsg_build_payload(h, t);
		msg_end(b, h);
	}
	nftnl_table_free(t);
	return h ? 0 : -ENOMEM;
}

/* ---- rules ---------------------------------------------------------------- */

static bool expr_add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (!e)
		return false;
	nftnl_rule_add_expr(r, e);
	return true;
}

static bool meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return expr_add(r, e);
}

static bool lookup(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	}
	return expr_add(r, e);
}

static bool cmp_eq(struct nftnl_rule *r, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return expr_add(r, e);
}

static bool th_dport(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	}
	return expr_add(r, e);
}

static bool counter_drop(struct nftnl_rule *r)
{
	struct nftnl_expr *e;

	if (!expr_add(r, nftnl_expr_alloc("counter")))
		return false;
	e = nftnl_expr_alloc("immediate");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
	}
	return expr_add(r, e);
}

/* Rule kind 0: TCP to a watched port; 1, 2: a frame still VLAN-tagged
 * (802.1Q, 802.1ad) after the kernel took the outer tag. */
static struct nftnl_rule *tap_rule(const char *chain, int kind)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	uint8_t tcp = 6;   /* IPPROTO_TCP */
	uint16_t proto = htons(kind == 1 ? 0x8100 : 0x88a8);
	bool ok;

	if (!r)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_NETDEV);
	ok = meta(r, NFT_META_IIF) && lookup(r, SET_BLOCKED, 1);
	if (kind == 0)
		ok = ok && meta(r, NFT_META_L4PROTO) && cmp_eq(r, &tcp, 1) && th_dport(r) &&
		     lookup(r, SET_PORTS, 2);
	else
		ok = ok && meta(r, NFT_META_PROTOCOL) && cmp_eq(r, &proto, 2);
	if (!ok || !counter_drop(r)) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

static void chain_name(char *buf, size_t cap, uint32_t ifindex)
{
	snprintf(buf, cap, "tap%u", ifindex);
}

int nft_batch_tap_chain(struct nft_batch *b, uint32_t ifindex, const char *ifname)
{
	char name[32], label[LABEL_MAX];
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_rule *flush = nftnl_rule_alloc();
	struct nlmsghdr *h;
	int rc = -ENOMEM;

	if (pend_flush(b) < 0)
		return -ENOMEM;

	if (!c || !flush)
		goto out;
	chain_name(name, sizeof(name), ifindex);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_NETDEV);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, CHAIN_PRIO);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, ifname);
	snprintf(label, sizeof(label), "chain %s (tap %s)", name, ifname);
	if (!(h = msg_begin(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, label)))
		goto out;
	nftnl_chain_nlmsg_build_payload(h, c);
	msg_end(b, h);
	/* a chain that was there keeps no rule of its own: flush, then add */
	nftnl_rule_set_str(flush, NFTNL_RULE_TABLE, NFT_TABLE);
	nftnl_rule_set_str(flush, NFTNL_RULE_CHAIN, name);
	nftnl_rule_set_u32(flush, NFTNL_RULE_FAMILY, NFPROTO_NETDEV);
	snprintf(label, sizeof(label), "flush chain %s", name);
	if (!(h = msg_begin(b, NFT_MSG_DELRULE, 0, label)))
		goto out;
	nftnl_rule_nlmsg_build_payload(h, flush);
	msg_end(b, h);
	for (int k = 0; k < 3; k++) {
		struct nftnl_rule *r = tap_rule(name, k);

		snprintf(label, sizeof(label), "rule %d of chain %s", k + 1, name);
		if (!r || !(h = msg_begin(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, label))) {
			if (r)
				nftnl_rule_free(r);
			goto out;
		}
		nftnl_rule_nlmsg_build_payload(h, r);
		msg_end(b, h);
		nftnl_rule_free(r);
	}
	rc = 0;
out:
	if (c)
		nftnl_chain_free(c);
	if (flush)
		nftnl_rule_free(flush);
	return rc;
}

int nft_batch_delete_tap_chain(struct nft_batch *b, uint32_t ifindex)
{
	char name[32], label[LABEL_MAX];
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *h;

	if (pend_flush(b) < 0)
		return -ENOMEM;

	if (!c)
		return -ENOMEM;
	chain_name(name, sizeof(name), ifindex);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_NETDEV);
	snprintf(label, sizeof(label), "delete chain %s", name);
	h = msg_begin(b, NFT_MSG_DELCHAIN, 0, label);
	if (h) {
		nftnl_chain_nlmsg_build_payload(h, c);
		msg_end(b, h);
	}
	nftnl_chain_free(c);
	return h ? 0 : -ENOMEM;
}

/* Add one element change to the pending message for @blocked (a new
 * message when the kind changes or the message is full). */
static int elem_msg(struct nft_batch *b, uint16_t type, uint32_t ifindex, uint64_t timeout_ms,
		    const char *comment)
{
	struct nftnl_set_elem *e;
	struct nftnl_udata_buf *ud = NULL;

	if ((b->pend && (b->pend_type != type || b->pend_n >= ELEMS_PER_MSG)) && pend_flush(b) < 0)
		return -ENOMEM;
	if (!b->pend) {
		if (!(b->pend = set_new(SET_BLOCKED)))
			return -ENOMEM;
		b->pend_type = type;
		b->pend_first = ifindex;
	}
	if (!(e = nftnl_set_elem_alloc()))
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &ifindex, sizeof(ifindex));
	if (type == NFT_MSG_NEWSETELEM) {
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
		if (comment && comment[0]) {
			ud = nftnl_udata_buf_alloc(NFT_COMMENT_MAX + 8);
			if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, comment)) {
				if (ud)
					nftnl_udata_buf_free(ud);
				nftnl_set_elem_free(e);
				return -ENOMEM;
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
					   nftnl_udata_buf_len(ud));
			nftnl_udata_buf_free(ud);
		}
	}
	nftnl_set_elem_add(b->pend, e);
	b->pend_n++;
	return 0;
}

int nft_batch_block(struct nft_batch *b, uint32_t ifindex, uint64_t timeout_ms, const char *comment)
{
	if (timeout_ms == 0 || ifindex == 0)
		return -EINVAL;
	return elem_msg(b, NFT_MSG_NEWSETELEM, ifindex, timeout_ms, comment ? comment : "");
}

int nft_batch_unblock(struct nft_batch *b, uint32_t ifindex)
{
	return elem_msg(b, NFT_MSG_DELSETELEM, ifindex, 0, NULL);
}

/* ---- commit ------------------------------------------------------------------ */

static void grow_buffers(struct nft *n, size_t out_bytes, size_t replies)
{
	int fd = mnl_socket_get_fd(n->req);
	int want_snd = (int)(out_bytes + 65536), want_rcv = (int)(replies * 1024 + (1u << 20));

	/* FORCE (root) goes past net.core.[rw]mem_max; without it the
	 * plain option is capped, and a batch that still does not fit gets
	 * EMSGSIZE from sendmsg */
	if (want_snd > n->sndbuf) {
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want_snd, sizeof(want_snd)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want_snd, sizeof(want_snd));
		n->sndbuf = want_snd;
	}
	if (want_rcv > n->rcvbuf) {
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want_rcv, sizeof(want_rcv)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want_rcv, sizeof(want_rcv));
		n->rcvbuf = want_rcv;
	}
}

struct ack_ctx {
	char msg[256];
};

static int extack_cb(const struct nlattr *a, void *data)
{
	struct ack_ctx *c = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		snprintf(c->msg, sizeof(c->msg), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

int nft_batch_commit(struct nft_batch *b, size_t *bad, char *err, size_t cap)
{
	struct nft *n = b->n;
	int fd = mnl_socket_get_fd(n->req);
	uint8_t *seen = NULL;
	size_t got_replies = 0;
	int first_err = 0;
	char buf[65536] __attribute__((aligned(8)));
	struct nlmsghdr *end;

	err[0] = '\0';
	if (bad)
		*bad = SIZE_MAX;
	if (pend_flush(b) < 0 || b->oom || !room(b, MSG_ROOM))
		return fail(err, cap, -ENOMEM, "building the transaction");
	if (b->nmsgs == 0)
		return 0;
	end = nftnl_batch_end(b->buf + b->len, b->seq0 + 1 + (uint32_t)b->nmsgs);
	grow_buffers(n, b->len + NLMSG_ALIGN(end->nlmsg_len), b->nmsgs);
	seen = calloc(b->nmsgs, 1);
	if (!seen)
		return fail(err, cap, -ENOMEM, "commit");
	if (mnl_socket_sendto(n->req, b->buf, b->len + NLMSG_ALIGN(end->nlmsg_len)) < 0) {
		int rc = -errno;

		free(seen);
		return fail(err, cap, rc, rc == -EMSGSIZE ? "transaction too large for one message" : "sendmsg");
	}
	while (got_replies < b->nmsgs) {
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (len < 0 && errno == EAGAIN) {
			/* the kernel answers inside sendmsg; wait a little for
			 * stragglers, then give up on them */
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, REPLY_WAIT_MS) <= 0)
				break;
			continue;
		}
		if (len < 0) {
			if (errno == EINTR)
				continue;
			free(seen);
			return fail(err, cap, errno == ENOBUFS ? -ENOBUFS : -errno, "reading the replies");
		}
		int rest = (int)len;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, rest);
		     h = mnl_nlmsg_next(h, &rest)) {
			const struct nlmsgerr *e;
			uint32_t idx;

			if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_pid != n->portid)
				continue;
			idx = h->nlmsg_seq - b->seq0 - 1;
			if (h->nlmsg_seq <= b->seq0 || idx >= b->nmsgs || seen[idx])
				continue;        /* not ours, or a duplicate */
			seen[idx] = 1;
			got_replies++;
			e = mnl_nlmsg_get_payload(h);
			if (e->error != 0 && first_err == 0) {
				struct ack_ctx c = { "" };
				size_t off = sizeof(*e);

				if (!(h->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
				if (h->nlmsg_flags & NLM_F_ACK_TLVS)
					mnl_attr_parse(h, (unsigned)off, extack_cb, &c);
				first_err = e->error;
				if (bad)
					*bad = idx;
				snprintf(err, cap, "%s: %s%s%s", b->labels[idx], strerror(-e->error),
					 c.msg[0] ? ": " : "", c.msg);
			}
		}
	}
	free(seen);
	if (first_err)
		return first_err;
	if (got_replies < b->nmsgs) {
		snprintf(err, cap, "%zu of %zu replies missing", b->nmsgs - got_replies, b->nmsgs);
		return -ENOBUFS;
	}
	return 0;
}

/* ---- dumps ---------------------------------------------------------------------- */

typedef int (*dump_cb)(const struct nlmsghdr *h, void *data);

/* Send the request in buf (built by the caller) and run cb on every reply. */
#define DUMP_BUF (1u << 20)     /* the kernel sizes dump messages to the reader */

static int dump(struct nft *n, struct nlmsghdr *req, dump_cb cb, void *data)
{
	char *buf = malloc(DUMP_BUF);
	uint32_t seq = req->nlmsg_seq;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (mnl_socket_sendto(n->req, req, req->nlmsg_len) < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(n->req, buf, DUMP_BUF);

		if (len < 0) {
			r = errno == ENOBUFS ? -ENOBUFS : -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)len, seq, n->portid, cb, data);
		if (r < 0) {
			r = -errno;
			break;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			break;
		}
	}
	free(buf);
	return r;
}

struct blocks_ctx {
	struct nft_block *v;
	size_t n, cap;
	int err;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT) {
		const char *s = nftnl_udata_get(attr);
		uint8_t len = nftnl_udata_len(attr);

		snprintf(data, NFT_COMMENT_MAX, "%.*s", (int)strnlen(s, len), s);
	}
	return 0;
}

static int block_elem(struct nftnl_set_elem *e, void *data)
{
	struct blocks_ctx *c = data;
	uint32_t klen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	struct nft_block *bl;

	if (!key || klen != sizeof(uint32_t))
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		void *nv = realloc(c->v, nc * sizeof(*c->v));

		if (!nv) {
			c->err = -ENOMEM;
			return -1;
		}
		c->v = nv;
		c->cap = nc;
	}
	bl = &c->v[c->n++];
	memset(bl, 0, sizeof(*bl));
	memcpy(&bl->ifindex, key, sizeof(uint32_t));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
		bl->timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
		bl->expires_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
		uint32_t ulen = 0;
		const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ulen);

		if (ud)
			nftnl_udata_parse(ud, ulen, comment_cb, bl->comment);
	}
	return 0;
}

static int blocks_cb(const struct nlmsghdr *h, void *data)
{
	struct blocks_ctx *c = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s || nftnl_set_elems_nlmsg_parse(h, s) < 0) {
		if (s)
			nftnl_set_free(s);
		c->err = -EIO;
		return MNL_CB_ERROR;
	}
	nftnl_set_elem_foreach(s, block_elem, c);
	nftnl_set_free(s);
	return c->err ? MNL_CB_ERROR : MNL_CB_OK;
}

int nft_dump_blocks(struct nft *n, struct nft_block **out, size_t *count)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct nftnl_set *s = set_new(SET_BLOCKED);
	struct blocks_ctx c = { 0 };
	struct nlmsghdr *h;
	int r;

	*out = NULL;
	*count = 0;
	if (!s)
		return -ENOMEM;
	h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_NETDEV, NLM_F_DUMP | NLM_F_ACK, n->seq++);
	nftnl_set_elems_nlmsg_build_payload(h, s);
	nftnl_set_free(s);
	r = dump(n, h, blocks_cb, &c);
	if (r == 0 && c.err)
		r = c.err;
	if (r < 0) {
		free(c.v);
		return r;
	}
	*out = c.v;
	*count = c.n;
	return 0;
}

struct chains_ctx {
	struct nft_chain *v;
	size_t n, cap;
	int err;
	bool rules;                  /* parsing rules (counters) rather than chains */
};

static struct nft_chain *chain_slot(struct chains_ctx *c, uint32_t ifindex)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].ifindex == ifindex)
			return &c->v[i];
	if (c->rules)
		return NULL;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		void *nv = realloc(c->v, nc * sizeof(*c->v));

		if (!nv) {
			c->err = -ENOMEM;
			return NULL;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n] = (struct nft_chain){ .ifindex = ifindex };
	return &c->v[c->n++];
}

/* "tap123" -> 123; 0 for names that are not ours. */
static uint32_t parse_chain_name(const char *name)
{
	char *end;
	unsigned long v;

	if (!name || strncmp(name, "tap", 3) != 0 || name[3] < '1' || name[3] > '9')
		return 0;
	v = strtoul(name + 3, &end, 10);
	return *end || v > UINT32_MAX ? 0 : (uint32_t)v;
}

static int counter_cb(struct nftnl_expr *e, void *data)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && strcmp(name, "counter") == 0)
		*(uint64_t *)data += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
	return 0;
}

static int chains_cb(const struct nlmsghdr *h, void *data)
{
	struct chains_ctx *c = data;

	if (c->rules) {
		struct nftnl_rule *r = nftnl_rule_alloc();
		uint64_t pk = 0;

		if (!r || nftnl_rule_nlmsg_parse(h, r) < 0) {
			if (r)
				nftnl_rule_free(r);
			return MNL_CB_OK;
		}
		const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
		struct nft_chain *slot = table && strcmp(table, NFT_TABLE) == 0 ?
			chain_slot(c, parse_chain_name(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN))) : NULL;

		if (slot) {
			nftnl_expr_foreach(r, counter_cb, &pk);
			slot->dropped += pk;
		}
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	struct nftnl_chain *ch = nftnl_chain_alloc();

	if (!ch || nftnl_chain_nlmsg_parse(h, ch) < 0) {
		if (ch)
			nftnl_chain_free(ch);
		return MNL_CB_OK;
	}
	const char *table = nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE);
	uint32_t idx = parse_chain_name(nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME));

	if (table && strcmp(table, NFT_TABLE) == 0 && idx)
		chain_slot(c, idx);
	nftnl_chain_free(ch);
	return c->err ? MNL_CB_ERROR : MNL_CB_OK;
}

int nft_dump_chains(struct nft *n, struct nft_chain **out, size_t *count)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct chains_ctx c = { 0 };
	struct nlmsghdr *h;
	int r;

	*out = NULL;
	*count = 0;
	r = nft_table_present(n);
	if (r <= 0)
		return r == 0 ? -ENOENT : r;
	h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_NETDEV, NLM_F_DUMP | NLM_F_ACK, n->seq++);
	r = dump(n, h, chains_cb, &c);
	if (r == 0 && !c.err) {
		c.rules = true;
		h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_NETDEV, NLM_F_DUMP | NLM_F_ACK, n->seq++);
		r = dump(n, h, chains_cb, &c);
	}
	if (r == 0 && c.err)
		r = c.err;
	if (r < 0) {
		free(c.v);
		return r;
	}
	*out = c.v;
	*count = c.n;
	return 0;
}

static int ok_cb(const struct nlmsghdr *h, void *data)
{
	(void)h;
	*(int *)data = 1;
	return MNL_CB_OK;
}

int nft_table_present(struct nft *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct nftnl_set *s = set_new(SET_PORTS);
	struct nlmsghdr *h;
	int found = 0, r;

	if (!s)
		return -ENOMEM;
	/* the ports set stands for the whole: table and sets are made together */
	h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_NETDEV, NLM_F_ACK, n->seq++);
	nftnl_set_nlmsg_build_payload(h, s);
	nftnl_set_free(s);
	r = dump(n, h, ok_cb, &found);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!found)
		return 0;
	/* and the other set */
	s = set_new(SET_BLOCKED);
	if (!s)
		return -ENOMEM;
	found = 0;
	h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_NETDEV, NLM_F_ACK, n->seq++);
	nftnl_set_nlmsg_build_payload(h, s);
	nftnl_set_free(s);
	r = dump(n, h, ok_cb, &found);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : found;
}
