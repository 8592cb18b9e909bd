/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of agent/enforce.c: the desired state, the differences it
 * sends, and its rules (whitelist, extension, tap reuse, adoption, repair),
 * against a fake kernel that records transactions and can refuse them.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "enforce.h"
#include "log.h"

#define UA "aaaaaaaa-4444-4000-8000-00000000000a"
#define UB "bbbbbbbb-4444-4000-8000-00000000000b"

/* A fake kernel: elements and chains, the last transaction, faults. */
struct fake {
	struct enforce_kelem elems[64];
	size_t n;
	uint32_t chains[64];
	size_t nch;
	bool table;
	uint64_t now_ms;                /* the kernel's clock, for remaining times */
	uint64_t until[64];             /* absolute expiry per element */
	int commits;
	size_t last_n;
	int fail_next;                  /* errno to refuse the next commit with */
	int fail_change;                /* index of the refused change, -1 none */
	uint32_t nodev;                 /* chains on this ifindex fail (ENODEV) */
	struct enforce_kelem out[64];
};

static struct fake K;

static int fake_commit(void *ctx, const struct enforce_change *c, size_t n, size_t *bad, char *err,
		       size_t cap)
{
	(void)ctx;
	*bad = SIZE_MAX;
	K.commits++;
	K.last_n = n;
	if (K.fail_next) {
		int r = -K.fail_next;

		K.fail_next = 0;
		if (K.fail_change >= 0)
			*bad = (size_t)K.fail_change;
		snprintf(err, cap, "refused");
		return r;
	}
	for (size_t i = 0; i < n; i++)
		if (c[i].kind == EC_CHAIN && c[i].ifindex == K.nodev) {
			*bad = i;
			snprintf(err, cap, "no such device");
			return -ENODEV;
		}
	/* a delete of what is not there fails the whole transaction */
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		if (c[i].kind == EC_UNBLOCK) {
			for (size_t k = 0; k < K.n; k++)
				found = found || K.elems[k].ifindex == c[i].ifindex;
		} else if (c[i].kind == EC_DEL_CHAIN) {
			for (size_t k = 0; k < K.nch; k++)
				found = found || K.chains[k] == c[i].ifindex;
		} else {
			continue;
		}
		if (!found) {
			*bad = i;
			snprintf(err, cap, "no such element or chain");
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < n; i++) {
		switch (c[i].kind) {
		case EC_TABLE: K.table = true; break;
		case EC_CHAIN: K.chains[K.nch++] = c[i].ifindex; break;
		case EC_DEL_CHAIN:
			for (size_t k = 0; k < K.nch; k++)
				if (K.chains[k] == c[i].ifindex) {
					K.chains[k] = K.chains[--K.nch];
					break;
				}
			break;
		case EC_BLOCK:
			K.elems[K.n].ifindex = c[i].ifindex;
			snprintf(K.elems[K.n].comment, sizeof(K.elems[0].comment), "%s", c[i].comment);
			K.until[K.n] = K.now_ms + c[i].timeout_ms;
			K.n++;
			break;
		case EC_UNBLOCK:
			for (size_t k = 0; k < K.n; k++)
				if (K.elems[k].ifindex == c[i].ifindex) {
					K.elems[k] = K.elems[--K.n];
					K.until[k] = K.until[K.n];
					break;
				}
			break;
		}
	}
	return 0;
}

static int fake_read(void *ctx, struct enforce_kstate *out, char *err, size_t cap)
{
	(void)ctx;
	(void)err;
	(void)cap;
	memset(out, 0, sizeof(*out));
	out->table = K.table;
	for (size_t i = 0; i < K.n; i++) {
		K.out[i] = K.elems[i];
		K.out[i].expires_ms = K.until[i] > K.now_ms ? K.until[i] - K.now_ms : 0;
	}
	out->elems = K.out;
	out->n_elems = K.n;
	out->chains = K.chains;
	out->n_chains = K.nch;
	return 0;
}

static const struct enforce_backend fake_be = { "fake", fake_commit, fake_read, NULL };

static struct enforce_result last;
static int results;
static void on_result(void *arg, const struct enforce_result *r)
{
	(void)arg;
	last = *r;
	results++;
}

static struct enforce *fresh(void)
{
	static const uint16_t ports[] = { 25, 587 };
	struct enforce *e;
	char err[256];

	memset(&K, 0, sizeof(K));
	K.fail_change = -1;
	K.now_ms = 1000000;
	results = 0;
	e = enforce_new(&fake_be, ports, 2, on_result, NULL);
	assert_non_null(e);
	assert_int_equal(enforce_start(e, K.now_ms, err, sizeof(err)), 0);
	assert_true(K.table);
	return e;
}

static bool has_elem(uint32_t ifindex, const char *uuid)
{
	for (size_t i = 0; i < K.n; i++)
		if (K.elems[i].ifindex == ifindex && strstr(K.elems[i].comment, uuid))
			return true;
	return false;
}

static bool has_chain(uint32_t ifindex)
{
	for (size_t i = 0; i < K.nch; i++)
		if (K.chains[i] == ifindex)
			return true;
	return false;
}

static void test_block_follows_the_vm(void **state)
{
	struct enforce *e = fresh();
	uint64_t rem = 0, t = K.now_ms;

	(void)state;
	enforce_tap_added(e, UA, "a", "vnet0", 10, t);
	enforce_tap_added(e, UB, "b", "vnet1", 11, t);
	assert_int_equal(K.nch, 0);                 /* nobody blocked: no hook */
	assert_int_equal(enforce_block(e, UA, "a", 3600, ENFORCE_AUTO, "burst volume", t), 0);
	assert_true(has_elem(10, UA) && has_chain(10));
	assert_false(has_elem(11, UB) || has_chain(11));
	assert_int_equal(last.action, EA_BLOCK);
	assert_int_equal(last.error, 0);
	assert_int_equal(last.remaining_s, 3600);
	assert_non_null(strstr(K.elems[0].comment, "auto burst_volume"));   /* one token */
	assert_true(enforce_is_blocked(e, UA, t, &rem) && rem == 3600);

	/* the VM stops: its element and chain go, the block stays */
	enforce_tap_removed(e, 10, t + 1000);
	assert_int_equal(K.n, 0);
	assert_int_equal(K.nch, 0);
	assert_true(enforce_is_blocked(e, UA, t + 1000, NULL));
	/* B gets A's old tap *name* with a new index: nothing of A's */
	enforce_tap_removed(e, 11, t + 1000);
	enforce_tap_added(e, UB, "b", "vnet0", 12, t + 1000);
	assert_int_equal(K.n, 0);
	/* A restarts on a new tap: blocked at once, for what is left */
	K.now_ms = t + 2000;
	enforce_tap_added(e, UA, "a", "vnet7", 13, t + 2000);
	assert_true(has_elem(13, UA) && has_chain(13));
	assert_false(has_elem(12, UB));
	assert_int_equal(last.remaining_s, 3598);
	/* the same index handed to another VM: the block does not go with it */
	enforce_tap_added(e, UB, "b", "vnet7", 13, t + 3000);
	assert_int_equal(K.n, 0);
	assert_int_equal(K.nch, 0);
	enforce_free(e);
}

static void test_longest_wins_and_unblock(void **state)
{
	struct enforce *e = fresh();
	uint64_t t = K.now_ms, rem;

	(void)state;
	enforce_tap_added(e, UA, "a", "vnet0", 10, t);
	assert_int_equal(enforce_block(e, UA, "a", 3600, ENFORCE_AUTO, "r1", t), 0);
	int commits = K.commits;
	/* shorter: nothing changes in the kernel */
	assert_int_equal(enforce_block(e, UA, "a", 60, ENFORCE_AUTO, "r2", t + 1000), 0);
	assert_int_equal(K.commits, commits);
	assert_true(enforce_is_blocked(e, UA, t + 1000, &rem) && rem == 3599);
	/* longer: the element is replaced (delete + add, one transaction) */
	K.now_ms = t + 2000;
	assert_int_equal(enforce_block(e, UA, "a", 86400, ENFORCE_AUTO, "r3", t + 2000), 0);
	assert_int_equal(K.commits, commits + 1);
	assert_int_equal(K.last_n, 2);
	assert_int_equal(K.n, 1);
	assert_int_equal(K.until[0], t + 2000 + 86400 * 1000ULL);
	/* unblock: at once */
	assert_int_equal(enforce_unblock(e, UA, "support ticket 9", t + 3000), 0);
	assert_int_equal(K.n, 0);
	assert_int_equal(K.nch, 0);
	assert_int_equal(last.action, EA_UNBLOCK);
	assert_false(enforce_is_blocked(e, UA, t + 3000, NULL));
	assert_int_equal(enforce_unblock(e, UA, "again", t + 3000), 0);   /* nothing to do */
	assert_int_equal(enforce_block(e, "not-a-uuid", "x", 60, ENFORCE_AUTO, "r", t), -EINVAL);
	enforce_free(e);
}

static void test_whitelist_rules(void **state)
{
	struct enforce *e = fresh();
	struct whitelist wl;
	struct policy_errors errs;
	uint64_t t = K.now_ms;

	(void)state;
	assert_int_equal(whitelist_parse("wl", UA "\n", strlen(UA) + 1, &wl, &errs), 0);
	enforce_tap_added(e, UA, "a", "vnet0", 10, t);
	/* an automatic block of a VM that gets approved is lifted */
	assert_int_equal(enforce_block(e, UA, "a", 3600, ENFORCE_AUTO, "burst", t), 0);
	assert_int_equal(K.n, 1);
	enforce_set_whitelist(e, &wl, 1800000000, t);
	assert_int_equal(K.n, 0);
	assert_int_equal(last.action, EA_UNBLOCK);
	/* automatic blocks of a whitelisted VM are refused in the module */
	assert_int_equal(enforce_block(e, UA, "a", 3600, ENFORCE_AUTO, "burst", t), -EPERM);
	assert_int_equal(last.action, EA_REFUSED);
	assert_int_equal(K.n, 0);
	assert_int_equal(enforce_counters(e)->refused_whitelisted, 1);
	/* a manual one (support staff) still blocks, and approval keeps it */
	assert_int_equal(enforce_block(e, UA, "a", 600, ENFORCE_MANUAL, "ticket", t), 0);
	assert_int_equal(K.n, 1);
	assert_non_null(strstr(K.elems[0].comment, " manual "));
	enforce_set_whitelist(e, &wl, 1800000000, t);
	assert_int_equal(K.n, 1);
	whitelist_fini(&wl);
	enforce_free(e);
}

static void test_adopt_repair_expire(void **state)
{
	struct enforce *e = fresh();
	static const uint16_t ports[] = { 25 };
	uint64_t t = K.now_ms, rem;
	char err[256];

	(void)state;
	enforce_tap_added(e, UA, "a", "vnet0", 10, t);
	assert_int_equal(enforce_block(e, UA, "a", 100, ENFORCE_AUTO, "burst", t), 0);
	enforce_free(e);                 /* the agent dies; the kernel keeps it */
	assert_int_equal(K.n, 1);

	/* a new agent adopts the block from the element's comment */
	K.now_ms = t + 40000;
	e = enforce_new(&fake_be, ports, 1, on_result, NULL);
	assert_int_equal(enforce_start(e, K.now_ms, err, sizeof(err)), 0);
	assert_true(enforce_is_blocked(e, UA, K.now_ms, &rem) && rem == 60);
	assert_int_equal(enforce_counters(e)->adopted, 1);
	int commits = K.commits;
	enforce_tap_added(e, UA, "a", "vnet0", 10, K.now_ms);
	assert_int_equal(K.commits, commits);     /* already right: no transaction */
	assert_int_equal(K.n, 1);

	/* someone flushes everything: a resync puts it back */
	K.n = 0;
	K.nch = 0;
	K.table = false;
	assert_int_equal(enforce_resync(e, K.now_ms), 0);
	assert_true(K.table && has_elem(10, UA) && has_chain(10));

	/* a refused transaction (the mirror was wrong): read, retry, done */
	K.n = 0;                         /* the element vanished behind our back */
	assert_int_equal(enforce_block(e, UA, "a", 3600, ENFORCE_AUTO, "again", K.now_ms), 0);
	assert_true(has_elem(10, UA));
	assert_true(enforce_counters(e)->transactions_failed >= 1);

	/* a tap whose device is gone does not stop the others' blocks */
	enforce_tap_added(e, UB, "b", "vnet1", 11, K.now_ms);
	K.nodev = 12;
	enforce_tap_added(e, UB, "b", "vnet9", 12, K.now_ms);
	assert_int_equal(enforce_block(e, UB, "b", 3600, ENFORCE_AUTO, "burst", K.now_ms), 0);
	assert_true(has_elem(11, UB) && has_chain(11));
	assert_false(has_chain(12));

	/* expiry: the kernel drops the element itself; the chain goes */
	assert_int_equal(enforce_unblock(e, UB, "done", K.now_ms), 0);
	uint64_t end = K.now_ms + 3600 * 1000ULL + 1;
	K.now_ms = end;
	K.n = 0;                         /* the kernel expired it */
	results = 0;
	enforce_tick(e, end);
	assert_int_equal(last.action, EA_EXPIRE);
	assert_int_equal(K.nch, 0);
	assert_false(enforce_is_blocked(e, UA, end, NULL));
	enforce_free(e);
}

static void test_dry_run(void **state)
{
	static const uint16_t ports[] = { 25 };
	struct enforce_backend *dry = enforce_dryrun_new();
	struct enforce *e;
	char err[256];

	(void)state;
	log_set_level(LOG_LVL_ERR);    /* the dry run logs every change */
	assert_non_null(dry);
	e = enforce_new(dry, ports, 1, on_result, NULL);
	assert_int_equal(enforce_start(e, 5000, err, sizeof(err)), 0);
	enforce_tap_added(e, UA, "a", "vnet0", 10, 5000);
	assert_int_equal(enforce_block(e, UA, "a", 60, ENFORCE_AUTO, "burst", 5000), 0);
	assert_true(enforce_is_blocked(e, UA, 5000, NULL));
	assert_int_equal(enforce_blocked_count(e, 5000), 1);
	assert_string_equal(enforce_blocked_at(e, 0, 5000, NULL), UA);
	assert_null(enforce_blocked_at(e, 1, 5000, NULL));
	enforce_free(e);
	enforce_dryrun_free(dry);
	log_set_level(LOG_LVL_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_follows_the_vm),
		cmocka_unit_test(test_longest_wins_and_unblock),
		cmocka_unit_test(test_whitelist_rules),
		cmocka_unit_test(test_adopt_repair_expire),
		cmocka_unit_test(test_dry_run),
	};

	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
