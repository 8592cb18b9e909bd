/* SPDX-License-Identifier: MIT */
/* Unit tests of agent/spool.c: the on-disk queue of reports for Redis.
 * Each test gets its own directory under /tmp, removed afterwards. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

#define MAX_BYTES (16u << 20)

struct fix {
	char dir[64];
	char err[512];
};

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/tw-spool-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	/* the spool creates its own directory inside */
	strcat(f->dir, "/state");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char *slash = strrchr(f->dir, '/');

	*slash = '\0';
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void path_of(const struct fix *f, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

static uint64_t file_size(const struct fix *f, const char *name)
{
	char p[128];
	struct stat sb;

	path_of(f, name, p, sizeof(p));
	assert_int_equal(stat(p, &sb), 0);
	return (uint64_t)sb.st_size;
}

static struct spool *open_ok(struct fix *f, uint64_t max)
{
	struct spool *s = spool_open(f->dir, max, f->err, sizeof(f->err));

	if (!s)
		fail_msg("spool_open: %s", f->err);
	return s;
}

static void push_str(struct spool *s, const char *text, uint64_t boot, uint64_t seq)
{
	uint64_t b = 0, q = 0;

	assert_int_equal(spool_push(s, text, strlen(text), &b, &q), 0);
	assert_int_equal(b, boot);
	assert_int_equal(q, seq);
}

static void expect_next(struct spool *s, uint64_t boot, uint64_t seq, const char *text)
{
	struct spool_rec r;

	assert_int_equal(spool_next(s, &r), 0);
	assert_int_equal(r.boot, boot);
	assert_int_equal(r.seq, seq);
	assert_int_equal(r.len, strlen(text));
	assert_memory_equal(r.payload, text, r.len);
}

/* A reference CRC-32, one bit at a time. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static size_t read_file(const struct fix *f, const char *name, uint8_t *buf, size_t cap)
{
	char p[128];
	FILE *fp;
	size_t n;

	path_of(f, name, p, sizeof(p));
	fp = fopen(p, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

static void write_file(const struct fix *f, const char *name, const void *buf, size_t n,
		       const char *mode)
{
	char p[128];
	FILE *fp;

	path_of(f, name, p, sizeof(p));
	fp = fopen(p, mode);
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
}

static void test_format(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	uint8_t b[256];
	size_t n;

	assert_int_equal(crc_ref(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	push_str(s, "hello", 1, 1);
	n = read_file(f, "reports.spool", b, sizeof(b));
	assert_int_equal(n, SPOOL_REC_HDR + 5);
	assert_int_equal(le(b, 4), 0x31505354u);
	assert_int_equal(le(b + 4, 4), 5);
	assert_int_equal(le(b + 8, 8), 1);
	assert_int_equal(le(b + 16, 8), 1);
	assert_int_equal(le(b + 24, 4), crc_ref(crc_ref(0, b + 4, 20), b + SPOOL_REC_HDR, 5));
	assert_memory_equal(b + SPOOL_REC_HDR, "hello", 5);
	n = read_file(f, "boot", b, sizeof(b));
	assert_int_equal(n, 2);
	assert_memory_equal(b, "1\n", 2);
	spool_free(s);
	spool_free(NULL);
}

static void test_order(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	const struct spool_counters *c = spool_counters(s);
	struct spool_rec r;
	char text[32];

	assert_string_equal(f->err, "");
	assert_int_equal(spool_boot(s), 1);
	assert_int_equal(spool_next(s, &r), -ENOENT);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "report-%d", i);
		push_str(s, text, 1, (uint64_t)i);
	}
	assert_int_equal(c->pushed, 5);
	assert_int_equal(c->pending, 5);
	assert_int_equal(c->pending_bytes, 5 * (SPOOL_REC_HDR + 8));
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "report-%d", i);
		expect_next(s, 1, (uint64_t)i, text);
	}
	assert_int_equal(spool_next(s, &r), -ENOENT);

	/* confirming does not hand anything out again */
	assert_int_equal(spool_confirm(s, 2), 0);
	assert_int_equal(c->confirmed, 2);
	assert_int_equal(c->pending, 3);
	assert_int_equal(c->pending_bytes, 3 * (SPOOL_REC_HDR + 8));
	assert_int_equal(spool_next(s, &r), -ENOENT);
	push_str(s, "report-6", 1, 6);
	expect_next(s, 1, 6, "report-6");
	assert_int_equal(spool_confirm(s, 5), -EINVAL);
	assert_int_equal(c->pending, 4);
	assert_int_equal(spool_confirm(s, 0), 0);
	assert_int_equal(c->pending, 4);
	spool_free(s);
}

static void test_rewind(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	struct spool_rec r;

	push_str(s, "a", 1, 1);
	push_str(s, "b", 1, 2);
	push_str(s, "c", 1, 3);
	push_str(s, "d", 1, 4);
	expect_next(s, 1, 1, "a");
	expect_next(s, 1, 2, "b");
	expect_next(s, 1, 3, "c");
	/* a is confirmed; the connection breaks with b and c in flight */
	assert_int_equal(spool_confirm(s, 1), 0);
	spool_rewind(s);
	expect_next(s, 1, 2, "b");
	expect_next(s, 1, 3, "c");
	expect_next(s, 1, 4, "d");
	assert_int_equal(spool_next(s, &r), -ENOENT);
	/* confirming past the cursor moves it (the publisher's duplicate check) */
	spool_rewind(s);
	assert_int_equal(spool_confirm(s, 2), 0);
	expect_next(s, 1, 4, "d");
	spool_rewind(s);
	expect_next(s, 1, 4, "d");
	spool_free(s);
}

static void test_replay_after_crash(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	uint8_t b[32];
	size_t n;

	push_str(s, "one", 1, 1);
	push_str(s, "two", 1, 2);
	push_str(s, "three", 1, 3);
	expect_next(s, 1, 1, "one");
	assert_int_equal(spool_confirm(s, 1), 0);   /* the head is not persisted */
	spool_free(s);                               /* "crash" */

	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_boot(s), 2);
	assert_int_equal(spool_counters(s)->pending, 3);
	assert_int_equal(spool_counters(s)->pending_bytes, 3 * SPOOL_REC_HDR + 11);
	expect_next(s, 1, 1, "one");   /* replayed; Redis refuses it as a duplicate */
	expect_next(s, 1, 2, "two");
	expect_next(s, 1, 3, "three");
	push_str(s, "four", 2, 1);
	expect_next(s, 2, 1, "four");
	spool_free(s);

	s = open_ok(f, MAX_BYTES);
	assert_int_equal(spool_boot(s), 3);
	assert_int_equal(spool_counters(s)->pending, 4);
	n = read_file(f, "boot", b, sizeof(b));
	assert_int_equal(n, 2);
	assert_memory_equal(b, "3\n", 2);
	spool_free(s);
}

static void open_cut(struct fix *f, const char *reason, uint64_t pending, uint64_t cut)
{
	struct spool *s = open_ok(f, MAX_BYTES);

	assert_non_null(strstr(f->err, reason));
	assert_non_null(strstr(f->err, "reports.spool: cut off a damaged tail"));
	assert_int_equal(spool_counters(s)->pending, pending);
	assert_int_equal(spool_counters(s)->truncated_bytes, cut);
	assert_int_equal(file_size(f, "reports.spool"), spool_counters(s)->pending_bytes);
	spool_free(s);
}

static void test_torn_tail(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	uint8_t b[1024], junk[40];
	char p[128];
	size_t rs = SPOOL_REC_HDR + 100, n;
	char text[101];

	for (int i = 0; i < 3; i++) {
		memset(text, 'a' + i, 100);
		text[100] = '\0';
		push_str(s, text, 1, (uint64_t)i + 1);
	}
	spool_free(s);

	/* a crash in the middle of the last write */
	path_of(f, "reports.spool", p, sizeof(p));
	assert_int_equal(truncate(p, (off_t)(3 * rs - 10)), 0);
	open_cut(f, "record cut short", 2, rs - 10);

	/* the good prefix is intact; new records follow it */
	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_boot(s), 3);
	memset(text, 'a', 100);
	expect_next(s, 1, 1, text);
	memset(text, 'b', 100);
	expect_next(s, 1, 2, text);
	memset(text, 'z', 100);
	push_str(s, text, 3, 1);
	spool_free(s);

	/* one byte flipped in the last record's payload */
	n = read_file(f, "reports.spool", b, sizeof(b));
	assert_int_equal(n, 3 * rs);
	b[3 * rs - 7] ^= 0x20;
	write_file(f, "reports.spool", b, n, "wb");
	open_cut(f, "bad checksum", 2, rs);

	/* garbage after the last record */
	memset(junk, 'x', sizeof(junk));
	write_file(f, "reports.spool", junk, sizeof(junk), "ab");
	open_cut(f, "bad magic", 2, sizeof(junk));

	/* an old record appended again: its ID is not above the last one */
	write_file(f, "reports.spool", b, rs, "ab");
	open_cut(f, "ID not above", 2, rs);

	/* a length beyond the limit */
	memcpy(junk, b, SPOOL_REC_HDR);
	junk[7] = 0x7f;
	write_file(f, "reports.spool", junk, SPOOL_REC_HDR, "ab");
	open_cut(f, "bad length", 2, SPOOL_REC_HDR);

	/* a few bytes of a header */
	write_file(f, "reports.spool", b, 5, "ab");
	open_cut(f, "record cut short", 2, 5);

	/* damage in the first record: nothing is kept */
	b[SPOOL_REC_HDR] ^= 1;
	write_file(f, "reports.spool", b, 2 * rs, "wb");
	open_cut(f, "bad checksum", 0, 2 * rs);
	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_counters(s)->truncated_bytes, 0);
	assert_int_equal(spool_counters(s)->pending, 0);
	spool_free(s);
}

static void test_byte_limit(void **state)
{
	struct fix *f = *state;
	uint64_t rs = SPOOL_REC_HDR + 100;
	struct spool *s = open_ok(f, 3 * rs);
	const struct spool_counters *c = spool_counters(s);
	uint8_t payload[100];
	uint8_t *big;
	uint64_t b, q;
	struct spool_rec r;

	memset(payload, 'p', sizeof(payload));
	for (int i = 1; i <= 3; i++)
		assert_int_equal(spool_push(s, payload, sizeof(payload), &b, &q), 0);
	assert_int_equal(spool_push(s, payload, sizeof(payload), &b, &q), -ENOSPC);
	assert_int_equal(spool_push(s, payload, 1, NULL, NULL), -ENOSPC);
	assert_int_equal(c->dropped, 2);
	assert_int_equal(c->pending, 3);
	assert_int_equal(c->pending_bytes, 3 * rs);
	assert_int_equal(file_size(f, "reports.spool"), 3 * rs);
	/* a refused push consumes no ID */
	assert_int_equal(spool_confirm(s, 1), 0);
	assert_int_equal(spool_push(s, payload, sizeof(payload), &b, &q), 0);
	assert_int_equal(q, 4);
	assert_int_equal(c->pushed, 4);

	big = calloc(1, SPOOL_PAYLOAD_MAX + 1);
	assert_non_null(big);
	assert_int_equal(spool_push(s, big, SPOOL_PAYLOAD_MAX + 1, NULL, NULL), -EMSGSIZE);
	assert_int_equal(c->dropped, 3);
	spool_free(s);

	/* a limit lowered between runs keeps what is pending, refuses new */
	s = open_ok(f, rs);
	assert_int_equal(spool_counters(s)->pending, 4);
	assert_int_equal(spool_push(s, payload, sizeof(payload), NULL, NULL), -ENOSPC);
	assert_int_equal(spool_confirm(s, 4), 0);
	assert_int_equal(spool_push(s, payload, sizeof(payload), NULL, NULL), 0);
	spool_free(s);

	/* the largest record, bigger than the read-ahead buffer */
	s = open_ok(f, 4 * SPOOL_PAYLOAD_MAX);
	for (size_t i = 0; i < SPOOL_PAYLOAD_MAX; i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(spool_push(s, big, SPOOL_PAYLOAD_MAX, &b, &q), 0);
	assert_int_equal(spool_push(s, "", 0, NULL, NULL), 0);
	assert_int_equal(spool_next(s, &r), 0);    /* replayed from the last open */
	assert_int_equal(r.len, 100);
	assert_int_equal(spool_next(s, &r), 0);
	assert_int_equal(r.boot, b);
	assert_int_equal(r.seq, q);
	assert_int_equal(r.len, SPOOL_PAYLOAD_MAX);
	assert_memory_equal(r.payload, big, SPOOL_PAYLOAD_MAX);
	assert_int_equal(spool_next(s, &r), 0);
	assert_int_equal(r.len, 0);
	spool_free(s);
	s = open_ok(f, 4 * SPOOL_PAYLOAD_MAX);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_counters(s)->pending, 3);
	spool_free(s);
	free(big);
}

static void test_confirm_all_truncates(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	const struct spool_counters *c = spool_counters(s);
	struct spool_rec r;

	push_str(s, "a", 1, 1);
	push_str(s, "b", 1, 2);
	push_str(s, "c", 1, 3);
	expect_next(s, 1, 1, "a");
	expect_next(s, 1, 2, "b");
	expect_next(s, 1, 3, "c");
	assert_int_equal(spool_confirm(s, 2), 0);
	assert_int_equal(file_size(f, "reports.spool"), 3 * (SPOOL_REC_HDR + 1));
	assert_int_equal(spool_confirm(s, 1), 0);
	assert_int_equal(file_size(f, "reports.spool"), 0);
	assert_int_equal(c->pending, 0);
	assert_int_equal(c->pending_bytes, 0);
	assert_int_equal(c->confirmed, 3);
	assert_int_equal(spool_next(s, &r), -ENOENT);
	/* the file starts again at 0, IDs go on */
	push_str(s, "d", 1, 4);
	expect_next(s, 1, 4, "d");
	spool_rewind(s);
	expect_next(s, 1, 4, "d");
	assert_int_equal(file_size(f, "reports.spool"), SPOOL_REC_HDR + 1);
	spool_free(s);
	s = open_ok(f, MAX_BYTES);
	assert_int_equal(spool_counters(s)->pending, 1);
	expect_next(s, 1, 4, "d");
	spool_free(s);
}

static void fill_payload(uint8_t *p, size_t n, int i)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(i * 31 + (int)k);
}

static void expect_big(struct spool *s, uint8_t *want, size_t n, uint64_t boot, int i)
{
	struct spool_rec r;

	assert_int_equal(spool_next(s, &r), 0);
	assert_int_equal(r.boot, boot);
	assert_int_equal(r.seq, (uint64_t)i);
	assert_int_equal(r.len, n);
	fill_payload(want, n, i);
	assert_memory_equal(r.payload, want, n);
}

static void test_compaction(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	const struct spool_counters *c = spool_counters(s);
	const size_t n = 64u << 10;
	const uint64_t rs = SPOOL_REC_HDR + n;
	uint8_t *p = malloc(n), *want = malloc(n);
	struct spool_rec r;

	assert_non_null(p);
	assert_non_null(want);
	for (int i = 1; i <= 40; i++) {
		fill_payload(p, n, i);
		assert_int_equal(spool_push(s, p, n, NULL, NULL), 0);
	}
	for (int i = 1; i <= 35; i++)
		expect_big(s, want, n, 1, i);
	/* the 21st confirmation passes 1 MiB and half the file */
	for (int i = 1; i <= 20; i++)
		assert_int_equal(spool_confirm(s, 1), 0);
	assert_int_equal(c->compactions, 0);
	assert_int_equal(file_size(f, "reports.spool"), 40 * rs);
	assert_int_equal(spool_confirm(s, 1), 0);
	assert_int_equal(c->compactions, 1);
	assert_int_equal(file_size(f, "reports.spool"), 19 * rs);
	for (int i = 22; i <= 30; i++)
		assert_int_equal(spool_confirm(s, 1), 0);
	assert_int_equal(c->compactions, 1);
	assert_int_equal(c->pending, 10);
	assert_int_equal(c->pending_bytes, 10 * rs);
	assert_int_equal(c->io_errors, 0);
	/* the cursor survives the copy, and so do order and IDs */
	expect_big(s, want, n, 1, 36);
	spool_rewind(s);
	for (int i = 31; i <= 40; i++)
		expect_big(s, want, n, 1, i);
	assert_int_equal(spool_next(s, &r), -ENOENT);
	spool_free(s);

	/* a restart replays what the new file holds: 22..40 */
	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_counters(s)->pending, 19);
	for (int i = 22; i <= 40; i++)
		expect_big(s, want, n, 1, i);
	spool_free(s);
	free(p);
	free(want);
}

static void test_set_min_boot(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	struct spool_rec r;
	uint8_t b[32];

	push_str(s, "A", 1, 1);
	push_str(s, "B", 1, 2);
	spool_free(s);

	s = open_ok(f, MAX_BYTES);
	push_str(s, "C", 2, 1);
	push_str(s, "D", 2, 2);
	push_str(s, "E", 2, 3);
	expect_next(s, 1, 1, "A");
	expect_next(s, 1, 2, "B");
	expect_next(s, 2, 1, "C");
	expect_next(s, 2, 2, "D");
	spool_rewind(s);                 /* the connection broke */
	assert_int_equal(spool_set_min_boot(s, 2), 0);
	assert_int_equal(spool_boot(s), 2);
	assert_int_equal(spool_set_min_boot(s, 7), 0);
	assert_int_equal(spool_boot(s), 7);
	assert_int_equal(read_file(f, "boot", b, sizeof(b)), 2);
	assert_memory_equal(b, "7\n", 2);
	/* replayed and handed-out records keep their IDs; E never left the
	 * spool and moves into the new boot ahead of the new records */
	push_str(s, "F", 7, 2);
	expect_next(s, 1, 1, "A");
	expect_next(s, 1, 2, "B");
	expect_next(s, 2, 1, "C");
	expect_next(s, 2, 2, "D");
	expect_next(s, 7, 1, "E");
	expect_next(s, 7, 2, "F");
	assert_int_equal(spool_next(s, &r), -ENOENT);
	assert_int_equal(spool_set_min_boot(s, UINT64_MAX), -ERANGE);
	assert_int_equal(spool_boot(s), 7);
	spool_free(s);

	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_boot(s), 8);
	assert_int_equal(spool_counters(s)->pending, 6);
	expect_next(s, 1, 1, "A");
	expect_next(s, 1, 2, "B");
	expect_next(s, 2, 1, "C");
	expect_next(s, 2, 2, "D");
	expect_next(s, 7, 1, "E");
	expect_next(s, 7, 2, "F");
	/* everything handed out: only new records get the new boot */
	assert_int_equal(spool_set_min_boot(s, 20), 0);
	push_str(s, "G", 20, 1);
	spool_rewind(s);
	assert_int_equal(spool_confirm(s, 6), 0);
	expect_next(s, 20, 1, "G");
	spool_free(s);
}

static void test_lost_state_dir(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);

	/* a fresh directory queues while Redis is away; Redis then turns
	 * out to hold 9-...: nothing queued may be taken for a duplicate */
	push_str(s, "x", 1, 1);
	push_str(s, "y", 1, 2);
	assert_int_equal(spool_set_min_boot(s, 10), 0);
	expect_next(s, 10, 1, "x");
	expect_next(s, 10, 2, "y");
	push_str(s, "z", 10, 3);
	spool_free(s);

	/* the boot file lost, the spool not: the spool's IDs win */
	char p[128];

	path_of(f, "boot", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	s = open_ok(f, MAX_BYTES);
	assert_int_equal(spool_boot(s), 11);
	push_str(s, "w", 11, 1);
	spool_free(s);
}

static void test_open_errors(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES), *t;
	char err[256];

	/* one agent per directory */
	t = spool_open(f->dir, MAX_BYTES, err, sizeof(err));
	assert_null(t);
	assert_non_null(strstr(err, "in use"));
	spool_free(s);

	write_file(f, "boot", "x7\n", 3, "wb");
	assert_null(spool_open(f->dir, MAX_BYTES, err, sizeof(err)));
	assert_non_null(strstr(err, "boot: not a decimal boot counter"));
	write_file(f, "boot", "", 0, "wb");
	assert_null(spool_open(f->dir, MAX_BYTES, err, sizeof(err)));
	write_file(f, "boot", "41\n", 3, "wb");
	s = open_ok(f, MAX_BYTES);
	assert_int_equal(spool_boot(s), 42);
	spool_free(s);

	assert_null(spool_open(f->dir, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "limit"));
	assert_null(spool_open("/nonexistent-tw/x/y", MAX_BYTES, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
	assert_null(spool_open("/dev/null", MAX_BYTES, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
}

static void test_write_error(void **state)
{
	struct fix *f = *state;
	struct spool *s = open_ok(f, MAX_BYTES);
	const struct spool_counters *c = spool_counters(s);
	uint8_t payload[100];
	struct rlimit old, lim;
	uint64_t q = 0;
	int e;

	memset(payload, 'q', sizeof(payload));
	push_str(s, "first", 1, 1);
	/* a "full disk": the file may grow by 40 bytes, less than a record */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = SPOOL_REC_HDR + 5 + 40;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	e = spool_push(s, payload, sizeof(payload), NULL, &q);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(e, -EFBIG);
	assert_int_equal(c->io_errors, 1);
	assert_int_equal(c->pending, 1);
	assert_int_equal(c->dropped, 0);
	assert_int_equal(file_size(f, "reports.spool"), SPOOL_REC_HDR + 5);
	/* nothing half-written: the next record and a reopen are clean */
	assert_int_equal(spool_push(s, payload, sizeof(payload), NULL, &q), 0);
	assert_int_equal(q, 2);
	spool_free(s);
	s = open_ok(f, MAX_BYTES);
	assert_string_equal(f->err, "");
	assert_int_equal(spool_counters(s)->pending, 2);
	assert_int_equal(spool_counters(s)->truncated_bytes, 0);
	spool_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_all_truncates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_min_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_state_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
