/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the controller API's own parsers.  The first byte
 * picks one: the /v1/vms query string, the tokens file, an Authorization
 * header, or a poll row (JSON) put into the VM list and queried back.  A
 * refusal always says why; a parsed query stays within its limits; the
 * VM list's JSON is always valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "vmcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0: {
		struct vmq q;
		char err[256] = "";

		if (vmq_parse(s, &q, err, sizeof(err)) == 0) {
			if (q.limit < 1 || q.limit > 1000 || q.offset > 1000000 || strlen(q.q) > 64 ||
			    strlen(q.hypervisor) > 64)
				abort();
		} else if (!err[0]) {
			abort();
		}
		break;
	}
	case 1: {
		struct auth_set set;
		struct auth_errors e;

		if (auth_parse("fuzz", (const char *)data + 1, size - 1, &set, &e) == 0) {
			for (size_t i = 0; i < set.n; i++)
				if (!auth_name_valid(set.t[i].name) || set.t[i].role == AUTH_NONE)
					abort();
			auth_set_fini(&set);
		} else if (e.n == 0) {
			abort();
		}
		break;
	}
	case 2: {
		const char *tok;
		size_t len;

		if (auth_bearer(s, &tok, &len) && (len == 0 || len > AUTH_PRESENTED_MAX))
			abort();
		break;
	}
	case 3: {
		json_t *j = json_loadb((const char *)data + 1, size - 1, 0, NULL);
		struct vmcache c;
		struct vmq q;
		struct jsonw w;
		char err[64];

		vmcache_init(&c);
		if (j) {
			vmcache_put(&c, j);
			vmcache_put(&c, j);      /* replace */
		}
		vmq_parse("sort=name&state=any", &q, err, sizeof(err));
		jsonw_init(&w);
		if (vmcache_query(&c, &q, 1796325000, &w) == 0) {
			json_t *out = json_loadb(w.buf, w.len, 0, NULL);

			if (!out)
				abort();
			json_decref(out);
		}
		jsonw_fini(&w);
		vmcache_fini(&c);
		json_decref(j);
		break;
	}
	}
	free(s);
	return 0;
}
