/* SPDX-License-Identifier: MIT */
/* libFuzzer target: policy files are input.  Every byte string is parsed
 * as a policy, as reply patterns and as a whitelist; a pattern set that
 * loads is used to classify a reply, a whitelist that loads must be sorted,
 * unique and find each of its entries as what it is: an exemption, or raised
 * limits with its scale. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "replyclass.h"
#include "whitelist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy p;
	static struct reply_patterns rp;
	static struct policy_errors e;

	policy_load_buffer("fuzz", (const char *)data, size, &p, &e);
	if (policy_load_replies_buffer("fuzz", (const char *)data, size, &rp, &e) == 0) {
		replyclass_classify(&rp, 550, "5.7.1 blocked using zen.spamhaus.org\n5.7.1 more");
		replyclass_classify(&rp, 421, "4.7.28 rate limited");
	}
	struct whitelist w;
	if (whitelist_parse("fuzz", (const char *)data, size, &w, &e) == 0) {
		for (size_t i = 0; i < w.n; i++) {
			const struct whitelist_entry *e = &w.e[i];

			if ((i > 0 && strcmp(w.e[i - 1].uuid, e->uuid) >= 0) ||
			    whitelist_contains(&w, e->uuid, 0) != (e->scale == 0) ||
			    whitelist_scale(&w, e->uuid, 0) != e->scale)
				abort();
		}
		whitelist_fini(&w);
	}
	return 0;
}
