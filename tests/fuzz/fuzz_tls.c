/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for tls.c: the input is a client byte stream after
 * STARTTLS.  Besides crash/UB freedom it checks the parser's contracts:
 * the result is stateless (same answer twice), every proper prefix of a
 * complete hello is NEED_MORE or the same verdict, and JA4 is well formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hello a, b;
	enum tls_result r = tls_parse_client_hello(data, size, &a);

	if (tls_parse_client_hello(data, size, &b) != r || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if (r == TLS_DONE) {
		size_t n = strlen(a.ja4);

		if (n != 36 || a.ja4[0] != 't' || a.ja4[10] != '_' || a.ja4[23] != '_')
			abort();
		if (strlen(a.sni) >= sizeof(a.sni) || strlen(a.alpn) >= sizeof(a.alpn))
			abort();
		(void)tls_version_name(a.max_version);
		/* a shorter prefix can never already be complete and different */
		if (size > 0) {
			enum tls_result p = tls_parse_client_hello(data, size / 2, &b);

			if (p == TLS_DONE && memcmp(&a, &b, sizeof(a)) != 0 && size / 2 > 0)
				abort();
		}
	}
	return 0;
}
