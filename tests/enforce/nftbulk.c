/* SPDX-License-Identifier: MIT */
/*
 * nftbulk: install and remove N blocks, each set in one transaction,
 * through the agent's own nftables backend (agent/enforce_nft.c), and
 * check what the kernel holds after each step.  Run as root inside a
 * network namespace made for it (tests/enforce/bulk.sh, make bench):
 *
 *   nftbulk N       prints "installed N in S s, removed N in S s"
 *
 * The elements name interface indexes that need not exist (an element is
 * only data); chains need a device, so none are made here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enforce_nft.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_ours(struct nft *n, size_t *count)
{
	struct nft_block *b = NULL;
	int r = nft_dump_blocks(n, &b, count);

	free(b);
	return r;
}

int main(int argc, char **argv)
{
	static const uint16_t ports[] = { 25 };
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000, got = 0, bad;
	struct enforce_change *c = calloc(n + 1, sizeof(*c));
	char err[512];
	struct enforce_nft *x = enforce_nft_new(ports, 1, err, sizeof(err));
	const struct enforce_backend *be;
	double t0, t_add, t_del;
	int r;

	if (!x || !c || n == 0) {
		fprintf(stderr, "nftbulk: %s\n", x ? "bad N" : err);
		return 2;
	}
	be = enforce_nft_backend(x);
	c[0].kind = EC_TABLE;
	if ((r = be->commit(be->ctx, c, 1, &bad, err, sizeof(err))) < 0) {
		fprintf(stderr, "nftbulk: table: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		c[i].kind = EC_BLOCK;
		c[i].ifindex = (uint32_t)(1000000 + i);
		c[i].timeout_ms = 3600 * 1000;
		snprintf(c[i].comment, sizeof(c[i].comment), "vm=%08zx-0000-4000-8000-000000000000 auto bulk", i);
	}
	t0 = now_s();
	r = be->commit(be->ctx, c, n, &bad, err, sizeof(err));
	t_add = now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "nftbulk: install: %s\n", err);
		return 1;
	}
	if ((r = count_ours(enforce_nft_handle(x), &got)) < 0 || got != n) {
		fprintf(stderr, "nftbulk: after install the kernel holds %zu elements, not %zu (%d)\n", got, n, r);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		c[i].kind = EC_UNBLOCK;
	t0 = now_s();
	r = be->commit(be->ctx, c, n, &bad, err, sizeof(err));
	t_del = now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "nftbulk: remove: %s\n", err);
		return 1;
	}
	if ((r = count_ours(enforce_nft_handle(x), &got)) < 0 || got != 0) {
		fprintf(stderr, "nftbulk: after removal the kernel holds %zu elements (%d)\n", got, r);
		return 1;
	}
	printf("nftbulk: installed %zu blocks in one transaction in %.3f s, removed them in one in %.3f s\n",
	       n, t_add, t_del);
	enforce_nft_free(x);
	free(c);
	return 0;
}
