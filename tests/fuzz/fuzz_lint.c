/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for lint.c (with checklist.c and, through it, the
 * agent's message parser with its observer hooks).  Input: [flags byte]
 * [message ...]; flag bit 0 adds the request checks, with the request's
 * URLs taken from the message's first line.  Every line of the checklist
 * must name a known check with a valid status, every check must be there
 * exactly once, and the JSON form must round-trip.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lint.h"

static const char *const fz_shorteners[] = { "bit.ly", "t.co", "tinyurl.com" };
static const char *const fz_names[] = {
	"sample_size", "structure", "required_headers", "from_domain", "bulk_headers", "list_unsubscribe",
	"one_click", "body_unsubscribe", "dkim", "postal_address", "why_received", "html_content", "link_hosts",
	"link_redirects", "subject", "unsubscribe_url", "signup_url", "consent_method",
};
#define FZ_N (sizeof(fz_names) / sizeof(fz_names[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lint_config cfg = { .shorteners = fz_shorteners, .n_shorteners = 3, .max_bytes = 1 << 16 };
	struct lint_request req;
	struct lint_result res;
	struct checklist cl, back;
	unsigned seen[FZ_N] = { 0 };
	char line[256] = "";
	bool with_req;
	json_t *j;

	if (size < 1)
		return 0;
	with_req = data[0] & 1;
	data++;
	size--;
	{
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, data, n);
		line[n] = '\0';
	}
	req.unsubscribe_url = line;
	req.signup_url = line;
	req.consent_method = line;
	checklist_init(&cl);
	if (lint_run(&cfg, data, size, with_req ? &req : NULL, &cl, &res) < 0) {
		checklist_fini(&cl);
		return 0;
	}
	for (size_t i = 0; i < cl.n; i++) {
		size_t k;

		for (k = 0; k < FZ_N; k++)
			if (!strcmp(cl.v[i].name, fz_names[k]))
				break;
		if (k == FZ_N || cl.v[i].status > CHECK_FAIL || !memchr(cl.v[i].reason, 0, CHECK_REASON_MAX))
			abort();
		seen[k]++;
	}
	for (size_t k = 0; k < FZ_N; k++) {
		bool req_line = k == 0 || k >= 15;

		if (seen[k] != (req_line && !with_req ? 0u : 1u))
			abort();
	}
	if (!memchr(res.from_domain, 0, sizeof(res.from_domain)) || !memchr(res.dkim_selector, 0, sizeof(res.dkim_selector)))
		abort();
	j = checklist_json(&cl);
	if (j) {
		checklist_init(&back);
		if (checklist_from_json(&back, json_object_get(j, "checks")) != 0)
			abort();
		/* a reason that is not UTF-8 is replaced; names and statuses survive */
		if (back.n != cl.n)
			abort();
		for (size_t i = 0; i < cl.n; i++)
			if (strcmp(back.v[i].name, cl.v[i].name) || back.v[i].status != cl.v[i].status)
				abort();
		checklist_fini(&back);
		json_decref(j);
	}
	checklist_fini(&cl);
	return 0;
}
