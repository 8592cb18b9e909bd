/* SPDX-License-Identifier: MIT */
/* libFuzzer target: policy files are input.  Every byte string is parsed
 * as a policy and as reply patterns; a pattern set that loads is used to
 * classify a reply. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"
#include "replyclass.h"

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
	return 0;
}
