/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for vmmap.c on libvirt's test driver (tests/vmmap/node.xml:
 * three running guests).  The test driver's state is private to one
 * connection, so lifecycle changes are made through the same connection
 * the map uses (vmmap_new_conn); its events arrive through the real event
 * thread and pipe.  Checks the sync result, the callbacks and their order,
 * and the generation rule: a tap name handed from a stopped VM to another
 * VM (or to the same VM restarted) maps to the new owner with a new
 * generation, after the old mapping was reported removed.
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vmmap.h"

#define UUID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UUID_B "bbbbbbbb-0000-4000-8000-000000000002"
#define UUID_C "cccccccc-0000-4000-8000-000000000003"
#define UUID_D "dddddddd-0000-4000-8000-000000000004"

enum ev_kind { EV_ADDED, EV_REMOVED, EV_STOPPED };

struct ev {
	enum ev_kind kind;
	char ifname[16];
	char uuid[37];
	uint64_t gen;
};

struct recorder {
	struct ev ev[64];
	size_t n;
};

static void record(struct recorder *r, enum ev_kind k, const char *ifname, const char *uuid,
		   uint64_t gen)
{
	assert_true(r->n < 64);
	r->ev[r->n].kind = k;
	snprintf(r->ev[r->n].ifname, sizeof(r->ev[0].ifname), "%s", ifname);
	snprintf(r->ev[r->n].uuid, sizeof(r->ev[0].uuid), "%s", uuid);
	r->ev[r->n].gen = gen;
	r->n++;
}

static void cb_added(void *arg, const struct vmmap_tap *t)
{
	record(arg, EV_ADDED, t->ifname, t->uuid, t->generation);
}

static void cb_removed(void *arg, const struct vmmap_tap *t)
{
	record(arg, EV_REMOVED, t->ifname, t->uuid, t->generation);
}

static void cb_stopped(void *arg, const char *uuid)
{
	record(arg, EV_STOPPED, "", uuid, 0);
}

struct fixture {
	char uri[PATH_MAX + 16];
	virConnectPtr conn;
	struct vmmap *m;
	struct recorder rec;
};

static int setup(void **state)
{
	static struct fixture f;
	char path[PATH_MAX];
	struct vmmap_callbacks cb = { cb_added, cb_removed, cb_stopped, &f.rec };

	memset(&f, 0, sizeof(f));
	if (realpath("tests/vmmap/node.xml", path) == NULL)
		return -1;
	snprintf(f.uri, sizeof(f.uri), "test://%s", path);
	if (vmmap_global_init() < 0)
		return -1;
	f.conn = virConnectOpen(f.uri);
	if (f.conn == NULL || vmmap_new_conn(f.conn, &cb, &f.m) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmmap_free(f->m);
	virConnectClose(f->conn);
	return 0;
}

/* Dispatch until at least n callbacks were recorded (5 s at most). */
static void wait_events(struct fixture *f, size_t n)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (f->rec.n < n) {
		struct pollfd p = { .fd = vmmap_event_fd(f->m), .events = POLLIN };

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5) {
			fprintf(stderr, "timeout: %zu of %zu callbacks\n", f->rec.n, n);
			fail();
		}
		if (poll(&p, 1, 200) > 0)
			assert_true(vmmap_dispatch(f->m) >= 0);
	}
	/* nothing more than expected arrives */
	struct pollfd p = { .fd = vmmap_event_fd(f->m), .events = POLLIN };

	if (poll(&p, 1, 100) > 0)
		assert_true(vmmap_dispatch(f->m) >= 0);
	assert_int_equal(f->rec.n, n);
}

static const struct ev *find_ev(const struct recorder *r, enum ev_kind k, const char *ifname)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].kind == k && strcmp(r->ev[i].ifname, ifname) == 0)
			return &r->ev[i];
	return NULL;
}

static virDomainPtr define(virConnectPtr c, const char *name, const char *uuid, const char *tap,
			   const char *mac)
{
	char xml[1024];

	snprintf(xml, sizeof(xml),
		 "<domain type='test'><name>%s</name><uuid>%s</uuid><memory>131072</memory>"
		 "<os><type>hvm</type></os><devices><interface type='ethernet'>"
		 "<mac address='%s'/><target dev='%s'/></interface></devices></domain>",
		 name, uuid, mac, tap);
	return virDomainDefineXML(c, xml);
}

static void test_sync(void **state)
{
	struct fixture *f = *state;
	const struct vmmap_tap *a, *b0, *b1, *c;
	uint64_t gens[4];

	assert_int_equal(vmmap_sync(f->m), 0);
	assert_int_equal(f->rec.n, 4);
	assert_int_equal(vmmap_count(f->m), 4);
	a = vmmap_lookup_ifname(f->m, "tapa0");
	b0 = vmmap_lookup_ifname(f->m, "tapb0");
	b1 = vmmap_lookup_ifname(f->m, "tapb1");
	c = vmmap_lookup_ifname(f->m, "tapc0");
	assert_non_null(a);
	assert_non_null(b0);
	assert_non_null(b1);
	assert_non_null(c);
	assert_null(vmmap_lookup_ifname(f->m, "tapx0"));
	assert_string_equal(a->uuid, UUID_A);
	assert_string_equal(a->vm_name, "guest-a");
	assert_string_equal(a->customer, "c-1001");
	assert_string_equal(a->plan, "vps-s");
	assert_true(a->has_mac);
	assert_int_equal(a->mac[3], 0x0a);
	assert_string_equal(b0->uuid, UUID_B);
	assert_string_equal(b1->uuid, UUID_B);
	assert_int_equal(b1->mac[5], 0x02);
	assert_string_equal(b1->customer, "c-1002");
	assert_string_equal(c->uuid, UUID_C);
	assert_string_equal(c->customer, "");
	/* no such devices on this host */
	assert_int_equal(a->ifindex, 0);
	assert_null(vmmap_lookup_ifindex(f->m, 0));
	gens[0] = a->generation;
	gens[1] = b0->generation;
	gens[2] = b1->generation;
	gens[3] = c->generation;
	for (int i = 0; i < 4; i++) {
		assert_true(gens[i] >= 1);
		for (int j = 0; j < i; j++)
			assert_true(gens[i] != gens[j]);
	}
	for (size_t i = 0; i < vmmap_count(f->m); i++)
		assert_int_equal(f->rec.ev[i].kind, EV_ADDED);
	assert_null(vmmap_at(f->m, 4));

	/* a second sync changes nothing */
	f->rec.n = 0;
	assert_int_equal(vmmap_sync(f->m), 0);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(vmmap_lookup_ifname(f->m, "tapa0")->generation, gens[0]);
}

static void test_tap_handover(void **state)
{
	struct fixture *f = *state;
	virDomainPtr a, d;
	uint64_t gen_a, gen_d;
	const struct ev *e;

	assert_int_equal(vmmap_sync(f->m), 0);
	f->rec.n = 0;
	gen_a = vmmap_lookup_ifname(f->m, "tapa0")->generation;

	/* A stops: its tap is removed, then the VM is reported stopped */
	a = virDomainLookupByUUIDString(f->conn, UUID_A);
	assert_non_null(a);
	assert_int_equal(virDomainDestroy(a), 0);
	wait_events(f, 2);
	assert_int_equal(f->rec.ev[0].kind, EV_REMOVED);
	assert_string_equal(f->rec.ev[0].ifname, "tapa0");
	assert_string_equal(f->rec.ev[0].uuid, UUID_A);
	assert_int_equal(f->rec.ev[0].gen, gen_a);
	assert_int_equal(f->rec.ev[1].kind, EV_STOPPED);
	assert_string_equal(f->rec.ev[1].uuid, UUID_A);
	assert_null(vmmap_lookup_ifname(f->m, "tapa0"));
	assert_int_equal(vmmap_count(f->m), 3);

	/* D is defined (no callback: not running), then started on tapa0 */
	f->rec.n = 0;
	d = define(f->conn, "guest-d", UUID_D, "tapa0", "52:54:00:0d:00:01");
	assert_non_null(d);
	assert_int_equal(virDomainCreate(d), 0);
	wait_events(f, 1);
	e = &f->rec.ev[0];
	assert_int_equal(e->kind, EV_ADDED);
	assert_string_equal(e->ifname, "tapa0");
	assert_string_equal(e->uuid, UUID_D);
	assert_true(e->gen > gen_a);
	gen_d = e->gen;
	assert_string_equal(vmmap_lookup_ifname(f->m, "tapa0")->uuid, UUID_D);
	assert_string_equal(vmmap_lookup_ifname(f->m, "tapa0")->vm_name, "guest-d");
	assert_string_equal(vmmap_lookup_ifname(f->m, "tapa0")->customer, "");  /* not A's */

	/* and back: D stops, A starts again on tapa0 with yet another generation */
	f->rec.n = 0;
	assert_int_equal(virDomainDestroy(d), 0);
	assert_int_equal(virDomainCreate(a), 0);
	wait_events(f, 3);
	assert_int_equal(f->rec.ev[0].kind, EV_REMOVED);
	assert_int_equal(f->rec.ev[0].gen, gen_d);
	assert_int_equal(f->rec.ev[1].kind, EV_STOPPED);
	assert_string_equal(f->rec.ev[1].uuid, UUID_D);
	assert_int_equal(f->rec.ev[2].kind, EV_ADDED);
	assert_string_equal(f->rec.ev[2].uuid, UUID_A);
	assert_true(f->rec.ev[2].gen > gen_d);
	assert_string_equal(vmmap_lookup_ifname(f->m, "tapa0")->customer, "c-1001");

	/* a full sync agrees with what the events built */
	f->rec.n = 0;
	assert_int_equal(vmmap_sync(f->m), 0);
	assert_int_equal(f->rec.n, 0);
	virDomainUndefine(d);
	virDomainFree(d);
	virDomainFree(a);
}

/* The same VM restarted on the same tap names: new domain id, so every tap
 * is removed and added again with a new generation. */
static void test_restart(void **state)
{
	struct fixture *f = *state;
	virDomainPtr b;
	uint64_t g0, g1;

	assert_int_equal(vmmap_sync(f->m), 0);
	f->rec.n = 0;
	g0 = vmmap_lookup_ifname(f->m, "tapb0")->generation;
	g1 = vmmap_lookup_ifname(f->m, "tapb1")->generation;
	b = virDomainLookupByUUIDString(f->conn, UUID_B);
	assert_non_null(b);
	assert_int_equal(virDomainDestroy(b), 0);
	assert_int_equal(virDomainCreate(b), 0);
	wait_events(f, 5);      /* 2 removed, stopped, 2 added, in that order */
	assert_int_equal(f->rec.ev[2].kind, EV_STOPPED);
	assert_string_equal(f->rec.ev[2].uuid, UUID_B);
	assert_non_null(find_ev(&f->rec, EV_REMOVED, "tapb0"));
	assert_int_equal(find_ev(&f->rec, EV_REMOVED, "tapb1")->gen, g1);
	assert_true(find_ev(&f->rec, EV_ADDED, "tapb0")->gen > g0);
	assert_true(find_ev(&f->rec, EV_ADDED, "tapb1")->gen > g1);
	assert_int_equal(vmmap_lookup_ifname(f->m, "tapb0")->generation,
			 find_ev(&f->rec, EV_ADDED, "tapb0")->gen);
	virDomainFree(b);
}

/* vmmap_new() opens its own read-only connection: a fresh test-driver
 * state with the three guests of the node file. */
static void test_read_only_open(void **state)
{
	struct fixture *f = *state;
	struct recorder r = { .n = 0 };
	struct vmmap_callbacks cb = { cb_added, cb_removed, cb_stopped, &r };
	struct vmmap *m;
	struct vmmap_stats st;

	assert_int_equal(vmmap_new(f->uri, &cb, &m), 0);
	assert_int_equal(vmmap_sync(m), 0);
	assert_int_equal(vmmap_count(m), 4);
	assert_int_equal(r.n, 4);
	assert_string_equal(vmmap_lookup_ifname(m, "tapc0")->uuid, UUID_C);
	vmmap_get_stats(m, &st);
	assert_int_equal(st.syncs, 1);
	assert_int_equal(st.xml_errors, 0);
	vmmap_free(m);
	assert_int_equal(vmmap_new("test:///nonexistent/node.xml", &cb, &m), -ECONNREFUSED);
	assert_null(m);
	vmmap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_handover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
