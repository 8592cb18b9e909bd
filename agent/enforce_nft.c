/* SPDX-License-Identifier: MIT */
/*
 * enforce_nft: the nftables backend of enforce (agent process, needs
 * CAP_NET_ADMIN): changes become one nft.c transaction, the kernel's state
 * is read with nft.c dumps.
 */
#include "enforce_nft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct enforce_nft {
	struct enforce_backend be;
	struct nft *n;
	uint16_t ports[NFT_MAX_PORTS];
	size_t nports;
	struct nft_block *blocks;      /* the last read, lent to enforce */
	struct enforce_kelem *elems;
	struct nft_chain *chains;
	uint32_t *chain_idx;
	size_t n_chains;
};

static int nft_commit_one(void *ctx, const struct enforce_change *c, size_t n, size_t *bad, char *err,
			  size_t cap)
{
	struct enforce_nft *x = ctx;
	struct nft_batch *b = nft_batch_new(x->n);
	size_t *last = calloc(n + 1, sizeof(*last)), bad_msg = SIZE_MAX;
	int r = 0;

	*bad = SIZE_MAX;
	if (!b || !last) {
		nft_batch_free(b);
		free(last);
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		switch (c[i].kind) {
		case EC_TABLE: r = nft_batch_table(b, x->ports, x->nports); break;
		case EC_CHAIN: r = nft_batch_tap_chain(b, c[i].ifindex, c[i].ifname); break;
		case EC_DEL_CHAIN: r = nft_batch_delete_tap_chain(b, c[i].ifindex); break;
		case EC_BLOCK: r = nft_batch_block(b, c[i].ifindex, c[i].timeout_ms, c[i].comment); break;
		case EC_UNBLOCK: r = nft_batch_unblock(b, c[i].ifindex); break;
		}
		/* the message holding this change's last part (element
		 * changes share messages) */
		last[i] = nft_batch_count(b) - 1;
	}
	if (r < 0)
		snprintf(err, cap, "building the transaction: %s", strerror(-r));
	else
		r = nft_batch_commit(b, &bad_msg, err, cap);
	/* the (first) change in the message the kernel refused */
	for (size_t i = 0; r < 0 && bad_msg != SIZE_MAX && i < n; i++)
		if (last[i] >= bad_msg) {
			*bad = i;
			break;
		}
	nft_batch_free(b);
	free(last);
	return r;
}

/* One transaction; split in halves only when the kernel cannot take it in
 * one message (EMSGSIZE: a socket buffer capped below the batch, as in a
 * user namespace).  The halves are separate transactions: logged. */
static int nft_commit(void *ctx, const struct enforce_change *c, size_t n, size_t *bad, char *err,
		      size_t cap)
{
	int r = nft_commit_one(ctx, c, n, bad, err, cap);
	size_t h = n / 2, b2 = SIZE_MAX;

	if (r != -EMSGSIZE || n < 2)
		return r;
	log_warn("enforce: transaction of %zu changes too large for one netlink message: splitting it", n);
	r = nft_commit(ctx, c, h, bad, err, cap);
	if (r < 0)
		return r;
	r = nft_commit(ctx, c + h, n - h, &b2, err, cap);
	if (r < 0 && b2 != SIZE_MAX)
		*bad = h + b2;
	return r;
}

static int nft_read(void *ctx, struct enforce_kstate *out, char *err, size_t cap)
{
	struct enforce_nft *x = ctx;
	size_t nb = 0, nc = 0;
	int r;

	free(x->blocks);
	free(x->elems);
	free(x->chains);
	free(x->chain_idx);
	x->blocks = NULL;
	x->elems = NULL;
	x->chains = NULL;
	x->chain_idx = NULL;
	memset(out, 0, sizeof(*out));
	r = nft_table_present(x->n);
	if (r < 0) {
		snprintf(err, cap, "looking for table netdev %s: %s", NFT_TABLE, strerror(-r));
		return r;
	}
	if (r == 0)
		return 0;    /* no table: nothing installed */
	r = nft_dump_blocks(x->n, &x->blocks, &nb);
	if (r == 0)
		r = nft_dump_chains(x->n, &x->chains, &nc);
	if (r < 0 && r != -ENOENT) {
		snprintf(err, cap, "reading table netdev %s: %s", NFT_TABLE, strerror(-r));
		return r;
	}
	x->elems = calloc(nb + 1, sizeof(*x->elems));
	x->chain_idx = calloc(nc + 1, sizeof(*x->chain_idx));
	if (!x->elems || !x->chain_idx) {
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < nb; i++) {
		x->elems[i].ifindex = x->blocks[i].ifindex;
		x->elems[i].expires_ms = x->blocks[i].expires_ms;
		snprintf(x->elems[i].comment, sizeof(x->elems[i].comment), "%s", x->blocks[i].comment);
	}
	for (size_t i = 0; i < nc; i++)
		x->chain_idx[i] = x->chains[i].ifindex;
	x->n_chains = nc;
	out->table = true;
	out->elems = x->elems;
	out->n_elems = nb;
	out->chains = x->chain_idx;
	out->n_chains = nc;
	return 0;
}

struct enforce_nft *enforce_nft_new(const uint16_t *ports, size_t n_ports, char *err, size_t cap)
{
	struct enforce_nft *x;

	if (n_ports == 0 || n_ports > NFT_MAX_PORTS) {
		snprintf(err, cap, "1 to %d ports", NFT_MAX_PORTS);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	if (nft_open(&x->n, err, cap) < 0) {
		free(x);
		return NULL;
	}
	memcpy(x->ports, ports, n_ports * sizeof(*ports));
	x->nports = n_ports;
	x->be = (struct enforce_backend){ "nftables", nft_commit, nft_read, x };
	return x;
}

const struct enforce_backend *enforce_nft_backend(struct enforce_nft *x)
{
	return &x->be;
}

struct nft *enforce_nft_handle(struct enforce_nft *x)
{
	return x->n;
}

int enforce_nft_counters(struct enforce_nft *x, struct nft_chain **out, size_t *n)
{
	return nft_dump_chains(x->n, out, n);
}

void enforce_nft_free(struct enforce_nft *x)
{
	if (!x)
		return;
	nft_close(x->n);
	free(x->blocks);
	free(x->elems);
	free(x->chains);
	free(x->chain_idx);
	free(x);
}

int enforce_nft_remove_all(char *err, size_t cap)
{
	struct nft *n;
	struct nft_batch *b;
	int r = nft_open(&n, err, cap);

	if (r < 0)
		return r;
	r = nft_table_present(n);
	if (r <= 0) {
		nft_close(n);
		if (r < 0)
			snprintf(err, cap, "looking for table netdev %s: %s", NFT_TABLE, strerror(-r));
		return r;     /* 0: nothing to remove */
	}
	b = nft_batch_new(n);
	r = b ? nft_batch_delete_table(b) : -ENOMEM;
	if (r == 0)
		r = nft_batch_commit(b, NULL, err, cap);
	else
		snprintf(err, cap, "out of memory");
	nft_batch_free(b);
	nft_close(n);
	return r < 0 ? r : 1;
}
