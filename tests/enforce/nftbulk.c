/* SPDX-License-Identifier: MIT */
/*
 * nftbulk: install and remove N blocks, each set in one transaction,
 * through the agent's own nftables backend (agent/enforce_nft.c), and
 * check what the kernel holds after each step.  Run as root inside a
 * network namespace made for it (tests/enforce/bulk.sh, make bench):
 *
 *   nftbulk N              install N blocks in one transaction, check,
 *                          remove them in one, check; prints both times
 *   nftbulk fill N         install N blocks and leave them (for bench.sh)
 *   nftbulk latency TAP K  block and unblock a VM whose tap is TAP, K
 *                          times, through enforce.c: median and worst time
 *                          from the call to the kernel's ACK
 *
 * The elements name interface indexes that need not exist (an element is
 * only data); chains need a device, so none are made here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Block/unblock latency through the enforce module on a real tap. */
static int latency(const char *tap, size_t k)
{
	static const uint16_t ports[] = { 25 };
	static const char *uuid = "aaaaaaaa-5555-4000-8000-00000000000a";
	char err[512];
	struct enforce_nft *x = enforce_nft_new(ports, 1, err, sizeof(err));
	struct enforce *e;
	double *lat = calloc(k, sizeof(*lat)), t0;
	unsigned idx = if_nametoindex(tap);

	if (!x || !lat || !idx || !k) {
		fprintf(stderr, "nftbulk: latency: %s\n", !x ? err : "no such tap");
		return 2;
	}
	e = enforce_new(enforce_nft_backend(x), ports, 1, NULL, NULL);
	if (!e || enforce_start(e, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "nftbulk: latency: %s\n", err);
		return 1;
	}
	enforce_tap_added(e, uuid, "bench", tap, idx, 1);
	for (size_t i = 0; i < k; i++) {
		uint64_t now = 1000 + i * 10;

		t0 = now_s();
		if (enforce_block(e, uuid, "bench", 3600, ENFORCE_AUTO, "bench", now) < 0) {
			fprintf(stderr, "nftbulk: latency: block %zu failed\n", i);
			return 1;
		}
		lat[i] = (now_s() - t0) * 1000.0;
		if (enforce_unblock(e, uuid, "bench", now + 1) < 0) {
			fprintf(stderr, "nftbulk: latency: unblock %zu failed\n", i);
			return 1;
		}
	}
	qsort(lat, k, sizeof(*lat), cmp_double);
	printf("nftbulk: block latency (call to kernel ACK, chain and element) over %zu blocks: median %.3f ms, p99 %.3f ms, max %.3f ms\n",
	       k, lat[k / 2], lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1], lat[k - 1]);
	enforce_free(e);
	enforce_nft_free(x);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint16_t ports[] = { 25 };
	bool fill = argc > 2 && strcmp(argv[1], "fill") == 0;
	size_t n, got = 0, bad, before = 0;

	if (argc > 3 && strcmp(argv[1], "latency") == 0)
		return latency(argv[2], strtoul(argv[3], NULL, 10));
	n = strtoul(argv[fill ? 2 : 1] ? argv[fill ? 2 : 1] : "10000", NULL, 10);
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
	if (count_ours(enforce_nft_handle(x), &before) < 0)
		before = 0;
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
	if ((r = count_ours(enforce_nft_handle(x), &got)) < 0 || got != before + n) {
		fprintf(stderr, "nftbulk: after install the kernel holds %zu elements, not %zu (%d)\n", got, before + n, r);
		return 1;
	}
	if (fill) {
		printf("nftbulk: installed %zu blocks in %.3f s (left in place)\n", n, t_add);
		return 0;
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
	if ((r = count_ours(enforce_nft_handle(x), &got)) < 0 || got != before) {
		fprintf(stderr, "nftbulk: after removal the kernel holds %zu elements (%d)\n", got, r);
		return 1;
	}
	printf("nftbulk: installed %zu blocks in one transaction in %.3f s, removed them in one in %.3f s\n",
	       n, t_add, t_del);
	enforce_nft_free(x);
	free(c);
	return 0;
}
