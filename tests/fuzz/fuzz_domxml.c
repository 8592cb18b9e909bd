/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for domxml.c: the input is a domain XML document.
 * Besides crash/UB/leak freedom it checks the parser's contracts: the
 * result is deterministic, every string is NUL-terminated inside its
 * buffer, the caps hold, a success has a canonical UUID, a non-empty name
 * and valid interface names, and a failure leaves nothing but the error.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct domxml_domain a, b;

#define TERMINATED(s) (memchr((s), '\0', sizeof(s)) != NULL)

static void check_success(const struct domxml_domain *d)
{
	if (!TERMINATED(d->name) || !TERMINATED(d->uuid) || !TERMINATED(d->type) ||
	    !TERMINATED(d->customer) || !TERMINATED(d->plan) || d->name[0] == '\0' ||
	    strlen(d->uuid) != 36 || d->error[0] != '\0' || d->n_ifaces > DOMXML_MAX_IFACES)
		abort();
	for (int i = 0; i < 36; i++)
		if (isupper((unsigned char)d->uuid[i]))
			abort();
	if ((!d->has_meta && (d->customer[0] || d->plan[0] || d->meta_invalid)))
		abort();
	for (size_t i = 0; i < d->n_ifaces; i++) {
		const struct domxml_iface *f = &d->ifaces[i];

		if (!TERMINATED(f->type) || !TERMINATED(f->target) || !TERMINATED(f->bridge) ||
		    !TERMINATED(f->network) || !TERMINATED(f->source_dev) || !TERMINATED(f->mac_str))
			abort();
		if (strchr(f->target, '/') != NULL || strchr(f->target, ' ') != NULL)
			abort();
		if (f->has_mac != (strlen(f->mac_str) == 17))
			abort();
		if (f->target[0] != '\0' && domxml_find_target(d, f->target) == NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int r = domxml_parse((const char *)data, size, &a);

	if (domxml_parse((const char *)data, size, &b) != r || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if (r == 0) {
		check_success(&a);
	} else {
		if (a.error[0] == '\0' || !TERMINATED(a.error) || a.name[0] || a.uuid[0] ||
		    a.n_ifaces || a.id != -1)
			abort();
	}
	return 0;
}
