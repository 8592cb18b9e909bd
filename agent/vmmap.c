/* SPDX-License-Identifier: MIT */
/*
 * vmmap: tap -> VM map from libvirt.  Agent process: the map and its
 * callbacks live on the main (libevent) thread; a libvirt event thread turns
 * each domain event into a parsed state record (see vmmap.h for the
 * threading and the generation rule).
 */
#include "vmmap.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>

/* ---- the shared libvirt event thread ---------------------------------- */

static pthread_mutex_t loop_mu = PTHREAD_MUTEX_INITIALIZER;
static int loop_users;
static pthread_t loop_thread;
static atomic_bool loop_stop;
static int loop_guard = -1;
static bool loop_registered;

static void loop_guard_cb(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

static void *loop_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&loop_stop))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

/* libvirt reports through its error object; we read it and log ourselves. */
static void vmmap_silent_error(void *data, virErrorPtr err)
{
	(void)data;
	(void)err;
}

int vmmap_global_init(void)
{
	int r = 0;

	pthread_mutex_lock(&loop_mu);
	if (!loop_registered) {
		if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
			r = -EIO;
		else
			loop_registered = true;
		virSetErrorFunc(NULL, vmmap_silent_error);
	}
	pthread_mutex_unlock(&loop_mu);
	domxml_init();
	return r;
}

static int loop_acquire(void)
{
	int r = vmmap_global_init();

	if (r < 0)
		return r;
	pthread_mutex_lock(&loop_mu);
	if (loop_users == 0) {
		atomic_store(&loop_stop, false);
		/* wakes the loop at least once a second; 0 ms on shutdown */
		loop_guard = virEventAddTimeout(1000, loop_guard_cb, NULL, NULL);
		if (loop_guard < 0 || pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
			if (loop_guard >= 0)
				virEventRemoveTimeout(loop_guard);
			loop_guard = -1;
			pthread_mutex_unlock(&loop_mu);
			return -EAGAIN;
		}
	}
	loop_users++;
	pthread_mutex_unlock(&loop_mu);
	return 0;
}

static void loop_release(void)
{
	pthread_mutex_lock(&loop_mu);
	if (--loop_users == 0) {
		atomic_store(&loop_stop, true);
		virEventUpdateTimeout(loop_guard, 0);
		pthread_join(loop_thread, NULL);
		virEventRemoveTimeout(loop_guard);
		loop_guard = -1;
	}
	pthread_mutex_unlock(&loop_mu);
}

/* ---- the queue between the event thread and the main loop ------------ */

enum rec_kind { REC_RUNNING, REC_STOPPED };

struct rec {
	enum rec_kind kind;
	uint64_t seq;
	char uuid[DOMXML_UUID_LEN];
	struct domxml_domain dom;       /* REC_RUNNING */
};

/* Shared by the map and each libvirt callback registration (refcounted,
 * the registrations drop theirs in the libvirt free callback). */
struct queue {
	pthread_mutex_t mu;
	int refs;
	struct rec *recs[VMMAP_QUEUE_MAX];
	size_t head, count;
	uint64_t seq;                   /* of the last record made */
	bool overflow;
	uint64_t events, overflows, xml_errors;
	int pipe_r, pipe_w;
};

static void queue_unref(void *opaque)
{
	struct queue *q = opaque;
	bool last;

	pthread_mutex_lock(&q->mu);
	last = --q->refs == 0;
	pthread_mutex_unlock(&q->mu);
	if (!last)
		return;
	for (size_t i = 0; i < q->count; i++)
		free(q->recs[(q->head + i) % VMMAP_QUEUE_MAX]);
	close(q->pipe_r);
	close(q->pipe_w);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static void queue_ref(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->refs++;
	pthread_mutex_unlock(&q->mu);
}

/* Takes r (NULL: the record could not be made; resync instead). */
static void queue_push(struct queue *q, struct rec *r)
{
	char one = 1;

	pthread_mutex_lock(&q->mu);
	q->events++;
	if (r == NULL || q->count == VMMAP_QUEUE_MAX) {
		q->overflow = true;
		q->overflows++;
		free(r);
	} else {
		r->seq = ++q->seq;
		q->recs[(q->head + q->count++) % VMMAP_QUEUE_MAX] = r;
	}
	pthread_mutex_unlock(&q->mu);
	/* a full pipe already says "readable" */
	(void)!write(q->pipe_w, &one, 1);
}

/* Event thread: the state of dom now, as a record; stopped says the event
 * itself was a stop (a restart may already be under way: the stop is still
 * reported, and the start's own event follows). */
static void on_domain(virDomainPtr dom, bool stopped, struct queue *q)
{
	struct rec *r = calloc(1, sizeof(*r));
	char *xml = NULL;
	int active;

	if (r == NULL || virDomainGetUUIDString(dom, r->uuid) < 0) {
		free(r);
		queue_push(q, NULL);
		return;
	}
	active = stopped ? 0 : virDomainIsActive(dom);
	if (active == 1)
		xml = virDomainGetXMLDesc(dom, 0);
	if (active == 1 && xml != NULL && domxml_parse(xml, strlen(xml), &r->dom) == 0) {
		r->kind = REC_RUNNING;
	} else if (active == 0) {
		r->kind = REC_STOPPED;
	} else {
		/* cannot tell: a full sync will */
		pthread_mutex_lock(&q->mu);
		q->xml_errors++;
		pthread_mutex_unlock(&q->mu);
		free(r);
		r = NULL;
	}
	free(xml);
	queue_push(q, r);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	(void)detail;
	on_domain(dom, event == VIR_DOMAIN_EVENT_STOPPED, opaque);
	return 0;
}

static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)conn;
	(void)alias;
	on_domain(dom, false, opaque);
}

/* ---- the map ----------------------------------------------------------- */

struct vm {
	char uuid[DOMXML_UUID_LEN];
};

struct vmmap {
	virConnectPtr conn;
	bool own_conn;
	char *uri;                      /* owned connection: to reconnect */
	struct vmmap_callbacks cb;
	struct queue *q;
	int cb_ids[3];
	struct vmmap_tap *taps;
	size_t ntaps, cap_taps;
	struct vm *vms;                 /* running VMs we know of */
	size_t nvms, cap_vms;
	uint64_t generation;
	bool resync;
	struct vmmap_stats st;
};

static struct vm *vm_find(struct vmmap *m, const char *uuid)
{
	for (size_t i = 0; i < m->nvms; i++)
		if (strcmp(m->vms[i].uuid, uuid) == 0)
			return &m->vms[i];
	return NULL;
}

static bool vm_add(struct vmmap *m, const char *uuid)
{
	if (vm_find(m, uuid) != NULL)
		return true;
	if (m->nvms == m->cap_vms) {
		size_t nc = m->cap_vms ? m->cap_vms * 2 : 16;
		struct vm *n;

		if (nc > VMMAP_MAX_VMS)
			nc = VMMAP_MAX_VMS;
		if (m->nvms == nc || (n = realloc(m->vms, nc * sizeof(*n))) == NULL)
			return false;
		m->vms = n;
		m->cap_vms = nc;
	}
	memcpy(m->vms[m->nvms++].uuid, uuid, DOMXML_UUID_LEN);
	return true;
}

static void tap_remove_at(struct vmmap *m, size_t i)
{
	struct vmmap_tap old = m->taps[i];

	m->taps[i] = m->taps[--m->ntaps];
	if (m->cb.tap_removed)
		m->cb.tap_removed(m->cb.arg, &old);
}

static void vm_stopped(struct vmmap *m, const char *uuid)
{
	char u[DOMXML_UUID_LEN];
	struct vm *v;

	memcpy(u, uuid, sizeof(u));     /* uuid may point into a tap we remove */
	for (size_t i = 0; i < m->ntaps;)
		if (strcmp(m->taps[i].uuid, u) == 0)
			tap_remove_at(m, i);
		else
			i++;
	v = vm_find(m, u);
	if (v == NULL)
		return;
	*v = m->vms[--m->nvms];
	if (m->cb.vm_stopped)
		m->cb.vm_stopped(m->cb.arg, u);
}

static bool same_mapping(const struct vmmap_tap *t, const struct domxml_domain *d,
			 const struct domxml_iface *f)
{
	return strcmp(t->uuid, d->uuid) == 0 && t->domid == d->id &&
	       t->has_mac == f->has_mac && memcmp(t->mac, f->mac, 6) == 0 &&
	       strcmp(t->ifname, f->target) == 0;
}

static const struct domxml_iface *first_with_target(const struct domxml_domain *d,
						     const char *ifname)
{
	return domxml_find_target(d, ifname);
}

/* Domain d is running with exactly d's taps. */
static void apply_running(struct vmmap *m, const struct domxml_domain *d)
{
	m->st.ifaces_skipped += d->ifaces_dropped + d->ifaces_invalid;
	/* 1. this VM's mappings that are gone or changed */
	for (size_t i = 0; i < m->ntaps;) {
		struct vmmap_tap *t = &m->taps[i];
		const struct domxml_iface *f;

		if (strcmp(t->uuid, d->uuid) == 0 &&
		    ((f = first_with_target(d, t->ifname)) == NULL || !same_mapping(t, d, f)))
			tap_remove_at(m, i);
		else
			i++;
	}
	if (!vm_add(m, d->uuid)) {
		m->st.taps_dropped += d->n_ifaces;
		return;
	}
	/* 2. new mappings; a name still held by another VM is taken over */
	for (size_t k = 0; k < d->n_ifaces; k++) {
		const struct domxml_iface *f = &d->ifaces[k];
		const struct vmmap_tap *cur;
		struct vmmap_tap *t;

		if (f->target[0] == '\0' || first_with_target(d, f->target) != f)
			continue;       /* no tap, or a duplicate target in the XML */
		cur = vmmap_lookup_ifname(m, f->target);
		if (cur != NULL && same_mapping(cur, d, f))
			continue;
		if (cur != NULL) {
			if (strcmp(cur->uuid, d->uuid) != 0) {
				m->st.conflicts++;
				m->resync = true;
			}
			tap_remove_at(m, (size_t)(cur - m->taps));
		}
		if (m->ntaps == m->cap_taps) {
			size_t nc = m->cap_taps ? m->cap_taps * 2 : 16;
			struct vmmap_tap *n;

			if (nc > VMMAP_MAX_TAPS)
				nc = VMMAP_MAX_TAPS;
			if (m->ntaps == nc || (n = realloc(m->taps, nc * sizeof(*n))) == NULL) {
				m->st.taps_dropped++;
				continue;
			}
			m->taps = n;
			m->cap_taps = nc;
		}
		t = &m->taps[m->ntaps++];
		memset(t, 0, sizeof(*t));
		memcpy(t->ifname, f->target, sizeof(t->ifname));
		memcpy(t->uuid, d->uuid, sizeof(t->uuid));
		memcpy(t->vm_name, d->name, sizeof(t->vm_name));
		memcpy(t->customer, d->customer, sizeof(t->customer));
		memcpy(t->plan, d->plan, sizeof(t->plan));
		memcpy(t->type, f->type, sizeof(t->type));
		memcpy(t->mac, f->mac, 6);
		t->has_mac = f->has_mac;
		t->domid = d->id;
		t->ifindex = if_nametoindex(t->ifname);
		t->generation = ++m->generation;
		if (m->cb.tap_added) {
			struct vmmap_tap copy = *t;   /* the callback may look up others */

			m->cb.tap_added(m->cb.arg, &copy);
		}
	}
}

static void events_deregister(struct vmmap *m)
{
	for (int i = 0; i < 3; i++)
		if (m->cb_ids[i] >= 0) {
			virConnectDomainEventDeregisterAny(m->conn, m->cb_ids[i]);
			m->cb_ids[i] = -1;
		}
}

/* Subscribe m->q to the domain events of m->conn; 0 or -EIO (nothing left
 * subscribed). */
static int events_register(struct vmmap *m)
{
	static const int ids[3] = { VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
				    VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED };

	for (int i = 0; i < 3; i++) {
		virConnectDomainEventGenericCallback fn = i == 0 ?
			VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) : VIR_DOMAIN_EVENT_CALLBACK(on_device);

		queue_ref(m->q);
		m->cb_ids[i] = virConnectDomainEventRegisterAny(m->conn, NULL, ids[i], fn, m->q,
								queue_unref);
		if (m->cb_ids[i] < 0) {
			queue_unref(m->q);
			events_deregister(m);
			return -EIO;
		}
	}
	return 0;
}

/* The owned connection died (libvirtd restarted): open it again and
 * subscribe again.  Events missed meanwhile do not matter: the caller does
 * a full sync next.  0 or a negative errno (m->conn is then NULL). */
static int reconnect(struct vmmap *m)
{
	if (m->conn) {
		events_deregister(m);
		virConnectClose(m->conn);
	}
	m->conn = virConnectOpenReadOnly(m->uri);
	if (m->conn == NULL)
		return -ECONNREFUSED;
	m->st.reconnects++;
	if (events_register(m) < 0) {
		virConnectClose(m->conn);
		m->conn = NULL;
		return -EIO;
	}
	return 0;
}

static int vmmap_create(virConnectPtr conn, bool own, const struct vmmap_callbacks *cb,
			struct vmmap **out)
{
	struct vmmap *m = calloc(1, sizeof(*m));
	struct queue *q = calloc(1, sizeof(*q));
	int p[2] = { -1, -1 }, r;

	*out = NULL;
	if (m == NULL || q == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_init(&q->mu, NULL);
	q->refs = 1;
	q->pipe_r = p[0];
	q->pipe_w = p[1];
	m->q = q;
	q = NULL;
	m->conn = conn;
	m->own_conn = own;
	if (cb)
		m->cb = *cb;
	m->cb_ids[0] = m->cb_ids[1] = m->cb_ids[2] = -1;
	r = loop_acquire();
	if (r < 0)
		goto fail_loop;
	r = events_register(m);
	if (r < 0)
		goto fail_events;
	*out = m;
	return 0;
fail_events:
	loop_release();
fail_loop:
	queue_unref(m->q);
	free(m);
	return r;
fail:
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	free(q);
	free(m);
	return r;
}

int vmmap_new(const char *uri, const struct vmmap_callbacks *cb, struct vmmap **out)
{
	virConnectPtr conn;
	int r = vmmap_global_init();

	*out = NULL;
	if (r < 0)
		return r;
	conn = virConnectOpenReadOnly(uri);
	if (conn == NULL)
		return -ECONNREFUSED;
	r = vmmap_create(conn, true, cb, out);
	if (r < 0) {
		virConnectClose(conn);
		return r;
	}
	if (uri && !((*out)->uri = strdup(uri))) {
		vmmap_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int vmmap_new_conn(virConnectPtr conn, const struct vmmap_callbacks *cb, struct vmmap **out)
{
	int r = vmmap_global_init();

	*out = NULL;
	if (r < 0)
		return r;
	return vmmap_create(conn, false, cb, out);
}

void vmmap_free(struct vmmap *m)
{
	if (m == NULL)
		return;
	if (m->conn)
		events_deregister(m);
	loop_release();
	queue_unref(m->q);
	if (m->own_conn && m->conn)
		virConnectClose(m->conn);
	free(m->uri);
	free(m->taps);
	free(m->vms);
	free(m);
}

int vmmap_sync(struct vmmap *m)
{
	virDomainPtr *doms = NULL;
	struct domxml_domain *parsed = NULL;
	uint64_t start;
	int n, r = 0;

	if (m->own_conn && (m->conn == NULL || virConnectIsAlive(m->conn) != 1)) {
		r = reconnect(m);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&m->q->mu);
	start = m->q->seq;
	pthread_mutex_unlock(&m->q->mu);
	n = virConnectListAllDomains(m->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0)
		return -EIO;
	parsed = calloc(n > 0 ? (size_t)n : 1, sizeof(*parsed));
	if (parsed == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char *xml = virDomainGetXMLDesc(doms[i], 0);

		/* Unreadable XML (e.g. the domain stopped meanwhile: its event
		 * follows): keep what we have for it rather than drop its taps. */
		if (xml == NULL || domxml_parse(xml, strlen(xml), &parsed[i]) < 0) {
			m->st.xml_errors++;
			if (parsed[i].error[0] == '\0')
				snprintf(parsed[i].error, sizeof(parsed[i].error), "no XML");
			if (virDomainGetUUIDString(doms[i], parsed[i].uuid) < 0)
				parsed[i].uuid[0] = '\0';
		}
		free(xml);
	}
	/* VMs no longer running */
	for (size_t v = 0; v < m->nvms;) {
		bool found = false;

		for (int i = 0; i < n && !found; i++)
			found = strcmp(parsed[i].uuid, m->vms[v].uuid) == 0;
		if (found) {
			v++;
			continue;
		}
		vm_stopped(m, m->vms[v].uuid);  /* removes vms[v] */
	}
	for (int i = 0; i < n; i++)
		if (parsed[i].error[0] == '\0')
			apply_running(m, &parsed[i]);
	/* records older than this snapshot are superseded by it */
	pthread_mutex_lock(&m->q->mu);
	while (m->q->count > 0 && m->q->recs[m->q->head]->seq <= start) {
		free(m->q->recs[m->q->head]);
		m->q->head = (m->q->head + 1) % VMMAP_QUEUE_MAX;
		m->q->count--;
	}
	pthread_mutex_unlock(&m->q->mu);
	m->st.syncs++;
	m->resync = false;
out:
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	free(parsed);
	return r;
}

int vmmap_event_fd(const struct vmmap *m)
{
	return m->q->pipe_r;
}

int vmmap_dispatch(struct vmmap *m)
{
	char drain[64];
	int applied = 0;

	while (read(m->q->pipe_r, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&m->q->mu);
	if (m->q->overflow) {
		m->q->overflow = false;
		m->resync = true;
	}
	pthread_mutex_unlock(&m->q->mu);
	if (m->resync) {
		int r = vmmap_sync(m);

		if (r < 0)
			return r;
	}
	for (;;) {
		struct rec *r = NULL;

		pthread_mutex_lock(&m->q->mu);
		if (m->q->count > 0) {
			r = m->q->recs[m->q->head];
			m->q->head = (m->q->head + 1) % VMMAP_QUEUE_MAX;
			m->q->count--;
		}
		pthread_mutex_unlock(&m->q->mu);
		if (r == NULL)
			break;
		if (r->kind == REC_RUNNING)
			apply_running(m, &r->dom);
		else
			vm_stopped(m, r->uuid);
		free(r);
		applied++;
		m->st.records++;
	}
	/* a conflict seen while applying: ask libvirt for the truth now */
	if (m->resync) {
		int r = vmmap_sync(m);

		if (r < 0)
			return r;
	}
	return applied;
}

const struct vmmap_tap *vmmap_lookup_ifname(const struct vmmap *m, const char *ifname)
{
	for (size_t i = 0; i < m->ntaps; i++)
		if (strcmp(m->taps[i].ifname, ifname) == 0)
			return &m->taps[i];
	return NULL;
}

const struct vmmap_tap *vmmap_lookup_ifindex(const struct vmmap *m, unsigned ifindex)
{
	if (ifindex == 0)
		return NULL;
	for (size_t i = 0; i < m->ntaps; i++)
		if (m->taps[i].ifindex == ifindex)
			return &m->taps[i];
	return NULL;
}

size_t vmmap_count(const struct vmmap *m)
{
	return m->ntaps;
}

const struct vmmap_tap *vmmap_at(const struct vmmap *m, size_t i)
{
	return i < m->ntaps ? &m->taps[i] : NULL;
}

void vmmap_get_stats(const struct vmmap *m, struct vmmap_stats *out)
{
	*out = m->st;
	pthread_mutex_lock(&m->q->mu);
	out->events = m->q->events;
	out->queue_overflows = m->q->overflows;
	out->xml_errors += m->q->xml_errors;
	pthread_mutex_unlock(&m->q->mu);
}
