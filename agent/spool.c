/* SPDX-License-Identifier: MIT */
/*
 * spool: the on-disk queue of reports waiting for Redis (agent process;
 * synchronous file I/O, see spool.h for the contract).
 *
 * File format, all integers little-endian, one record after the other:
 *
 *     magic u32 | len u32 | boot u64 | seq u64 | crc u32 | payload[len]
 *
 * crc is CRC-32 (IEEE) of len, boot, seq and the payload, so a record cut
 * short by a crash or damaged on disk is recognised and, with everything
 * after it, cut off at open.  IDs (boot, seq) strictly increase through
 * the file; a record that breaks the order is treated as damage too.
 *
 * In memory there are three offsets into the file: head (oldest pending
 * record), cursor (next to hand out) and size (where the next record is
 * appended; we never use O_APPEND, so a failed write can be cut back).
 * Confirmed records before head stay in the file until it is truncated
 * (nothing pending) or compacted (head past SPOOL_COMPACT_MIN and half the
 * file); after a crash they are replayed and Redis refuses them as already
 * there, which is the publisher's normal duplicate path.
 *
 * Reads go through one buffer that always holds bytes [buf_off, buf_off +
 * buf_len) of the file with buf_off + buf_len <= size, so sequential
 * sending costs one pread per SPOOL_READ_CHUNK bytes, not per record.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SPOOL_MAGIC 0x31505354u        /* "TSP1" on disk */
#define SPOOL_READ_CHUNK (64u << 10)
#define SPOOL_FILE "reports.spool"
#define SPOOL_FILE_TMP "reports.spool.tmp"
#define SPOOL_BOOT "boot"
#define SPOOL_BOOT_TMP "boot.tmp"
#define SPOOL_LOCK "lock"

struct spool {
	int dirfd, lockfd, fd;
	uint64_t max_bytes;
	uint64_t boot, next_seq;
	uint64_t open_boot;        /* boot started by spool_open: records >= it are ours */
	uint64_t size, head, cursor;
	uint64_t sent_end;         /* end of the furthest record handed out since open */
	uint64_t compact_at;       /* after a failed compaction, retry past this head */
	uint8_t *buf;
	size_t buf_cap, buf_len;
	uint64_t buf_off;
	struct spool_counters ctr;
};

/* ---- encoding ---------------------------------------------------------------------------- */

/* CRC-32 (IEEE, reflected 0xEDB88320), four bits at a time: small and
 * fast enough for reports of a few kilobytes. */
static const uint32_t crc_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc = (crc >> 4) ^ crc_nibble[(crc ^ p[i]) & 15];
		crc = (crc >> 4) ^ crc_nibble[(crc ^ (p[i] >> 4)) & 15];
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The crc covers len, boot and seq (header bytes 4..24) and the payload. */
static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
	return crc32_update(crc32_update(0, hdr + 4, 20), payload, len);
}

static void rec_header(uint8_t *hdr, uint64_t boot, uint64_t seq, const void *payload, size_t len)
{
	put32(hdr, SPOOL_MAGIC);
	put32(hdr + 4, (uint32_t)len);
	put64(hdr + 8, boot);
	put64(hdr + 16, seq);
	put32(hdr + 24, rec_crc(hdr, payload, len));
}

/* ---- file helpers ------------------------------------------------------------------------ */

static void set_err(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Make bytes [off, off + need) of the file (need <= size - off) available
 * in the read buffer, reading ahead up to a chunk; *p points at off. */
static int fill(struct spool *s, uint64_t off, size_t need, const uint8_t **p)
{
	size_t want, got = 0;

	if (off >= s->buf_off && off - s->buf_off <= s->buf_len &&
	    need <= s->buf_len - (off - s->buf_off)) {
		*p = s->buf + (off - s->buf_off);
		return 0;
	}
	if (need > s->size - off || need > SPOOL_REC_HDR + SPOOL_PAYLOAD_MAX)
		return -EIO;
	if (need > s->buf_cap) {
		uint8_t *nb = realloc(s->buf, need);

		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->buf_cap = need;
	}
	s->buf_len = 0;
	want = s->size - off < s->buf_cap ? (size_t)(s->size - off) : s->buf_cap;
	while (got < want) {
		ssize_t r = pread(s->fd, s->buf + got, want - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < need)
		return -EIO;
	s->buf_off = off;
	s->buf_len = got;
	*p = s->buf;
	return 0;
}

static void buf_drop(struct spool *s)
{
	s->buf_off = 0;
	s->buf_len = 0;
}

enum rec_status { REC_OK, REC_SHORT, REC_MAGIC, REC_LENGTH, REC_CRC, REC_ORDER };

static const char *rec_status_str[] = {
	[REC_OK] = "ok", [REC_SHORT] = "record cut short", [REC_MAGIC] = "bad magic",
	[REC_LENGTH] = "bad length", [REC_CRC] = "bad checksum",
	[REC_ORDER] = "ID not above the previous record's",
};

/* Read and check the record at off; on REC_OK fill *rec (payload in the
 * read buffer) and *total (its size on disk).  A read error is -errno. */
static int rec_read(struct spool *s, uint64_t off, bool check_crc, struct spool_rec *rec,
		    uint64_t *total)
{
	const uint8_t *h;
	uint32_t len;
	int e;

	if (s->size - off < SPOOL_REC_HDR)
		return REC_SHORT;
	e = fill(s, off, SPOOL_REC_HDR, &h);
	if (e < 0)
		return e;
	if (get32(h) != SPOOL_MAGIC)
		return REC_MAGIC;
	len = get32(h + 4);
	if (len > SPOOL_PAYLOAD_MAX)
		return REC_LENGTH;
	if (s->size - off - SPOOL_REC_HDR < len)
		return REC_SHORT;
	*total = SPOOL_REC_HDR + (uint64_t)len;
	if (check_crc) {
		e = fill(s, off, SPOOL_REC_HDR + len, &h);
		if (e < 0)
			return e;
		if (get32(h + 24) != rec_crc(h, h + SPOOL_REC_HDR, len))
			return REC_CRC;
	}
	rec->boot = get64(h + 8);
	rec->seq = get64(h + 16);
	rec->payload = check_crc ? h + SPOOL_REC_HDR : NULL;
	rec->len = len;
	return REC_OK;
}

/* Replace dir/boot with value, atomically and durably. */
static int write_boot(int dirfd, uint64_t value)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%" PRIu64 "\n", value);
	int fd, e;

	fd = openat(dirfd, SPOOL_BOOT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	e = write_all(fd, line, (size_t)n);
	if (e == 0 && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && renameat(dirfd, SPOOL_BOOT_TMP, dirfd, SPOOL_BOOT) < 0)
		e = -errno;
	if (e == 0 && fsync(dirfd) < 0)
		e = -errno;
	if (e < 0)
		unlinkat(dirfd, SPOOL_BOOT_TMP, 0);
	return e;
}

/* dir/boot: 0 when missing, -EINVAL when it is not a decimal counter. */
static int read_boot(int dirfd, uint64_t *out)
{
	char line[32], *end;
	ssize_t n;
	int fd = openat(dirfd, SPOOL_BOOT, O_RDONLY | O_CLOEXEC);

	*out = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	do
		n = read(fd, line, sizeof(line) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -errno;
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n == 0 || line[0] < '0' || line[0] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(line, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

/*
 * Write the pending records [head, size) to a new file and rename it over
 * the spool.  Records from restamp (an offset >= head; UINT64_MAX: none)
 * on get new IDs new_boot-1, -2, ...; *n_restamped says how many.  On
 * failure the old file and every offset are unchanged.
 */
static int rewrite(struct spool *s, uint64_t restamp, uint64_t new_boot, uint64_t *n_restamped)
{
	uint64_t off = s->head, raw_end = restamp < s->size ? restamp : s->size, seq = 0;
	const uint8_t *p;
	int tfd, e = 0;

	tfd = openat(s->dirfd, SPOOL_FILE_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (tfd < 0)
		return -errno;
	while (e == 0 && off < raw_end) {
		size_t n = raw_end - off < SPOOL_READ_CHUNK ? (size_t)(raw_end - off) : SPOOL_READ_CHUNK;

		e = fill(s, off, n, &p);
		if (e == 0)
			e = write_all(tfd, p, n);
		off += n;
	}
	while (e == 0 && off < s->size) {
		struct spool_rec rec;
		uint64_t total = 0;
		uint8_t hdr[SPOOL_REC_HDR];
		int st = rec_read(s, off, true, &rec, &total);

		if (st != REC_OK) {
			e = st < 0 ? st : -EIO;
			break;
		}
		rec_header(hdr, new_boot, ++seq, rec.payload, rec.len);
		e = write_all(tfd, hdr, sizeof(hdr));
		if (e == 0)
			e = write_all(tfd, rec.payload, rec.len);
		off += total;
	}
	if (e == 0 && fsync(tfd) < 0)
		e = -errno;
	if (e == 0 && renameat(s->dirfd, SPOOL_FILE_TMP, s->dirfd, SPOOL_FILE) < 0)
		e = -errno;
	if (e < 0) {
		close(tfd);
		unlinkat(s->dirfd, SPOOL_FILE_TMP, 0);
		return e;
	}
	/* the rename is done; a lost directory entry after a power cut
	 * brings back the old file, whose extra records are duplicates */
	if (fsync(s->dirfd) < 0)
		s->ctr.io_errors++;
	close(s->fd);
	s->fd = tfd;
	s->size -= s->head;
	s->cursor -= s->head;
	s->sent_end = s->sent_end > s->head ? s->sent_end - s->head : 0;
	s->head = 0;
	s->compact_at = 0;
	buf_drop(s);
	if (n_restamped)
		*n_restamped = seq;
	return 0;
}

/* ---- open -------------------------------------------------------------------------------- */

/* Find the valid prefix of the file (s->size is its length on entry) and
 * cut the rest off, saying why in err. */
static int scan(struct spool *s, const char *dir, uint64_t *max_boot, char *err, size_t cap)
{
	uint64_t off = 0, pb = 0, ps = 0;
	int st = REC_OK;

	*max_boot = 0;
	while (off < s->size) {
		struct spool_rec rec;
		uint64_t total = 0;

		st = rec_read(s, off, true, &rec, &total);
		if (st < 0) {
			set_err(err, cap, "spool: %s/%s: cannot read: %s", dir, SPOOL_FILE, strerror(-st));
			return st;
		}
		if (st == REC_OK && (rec.boot == 0 || rec.seq == 0 ||
				     rec.boot < pb || (rec.boot == pb && rec.seq <= ps)))
			st = REC_ORDER;
		if (st != REC_OK)
			break;
		pb = rec.boot;
		ps = rec.seq;
		s->ctr.pending++;
		s->ctr.pending_bytes += total;
		off += total;
	}
	*max_boot = pb;
	if (off == s->size)
		return 0;
	s->ctr.truncated_bytes = s->size - off;
	set_err(err, cap, "spool: %s/%s: cut off a damaged tail offset=%" PRIu64 " bytes=%" PRIu64
		" reason=\"%s\" kept=%" PRIu64, dir, SPOOL_FILE, off, s->size - off,
		rec_status_str[st], s->ctr.pending);
	if (ftruncate(s->fd, (off_t)off) < 0) {
		int e = -errno;

		set_err(err, cap, "spool: %s/%s: cannot cut off a damaged tail at offset %" PRIu64 ": %s",
			dir, SPOOL_FILE, off, strerror(errno));
		return e;
	}
	s->size = off;
	if (s->buf_off + s->buf_len > off)
		s->buf_len = s->buf_off < off ? (size_t)(off - s->buf_off) : 0;
	return 0;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes, char *err, size_t cap)
{
	struct spool *s;
	struct stat sb;
	uint64_t file_boot, max_boot;
	int e;

	set_err(err, cap, "%s", "");
	if (max_bytes == 0) {
		set_err(err, cap, "spool: %s: the byte limit must be above 0", dir);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, cap, "spool: out of memory");
		return NULL;
	}
	s->dirfd = s->lockfd = s->fd = -1;
	s->max_bytes = max_bytes;
	s->buf_cap = SPOOL_READ_CHUNK;
	s->buf = malloc(s->buf_cap);
	if (!s->buf) {
		set_err(err, cap, "spool: out of memory");
		goto fail;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		set_err(err, cap, "spool: %s: cannot create: %s", dir, strerror(errno));
		goto fail;
	}
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		set_err(err, cap, "spool: %s: cannot open: %s", dir, strerror(errno));
		goto fail;
	}
	s->lockfd = openat(s->dirfd, SPOOL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		set_err(err, cap, "spool: %s/%s: cannot open: %s", dir, SPOOL_LOCK, strerror(errno));
		goto fail;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		set_err(err, cap, "spool: %s: %s", dir, errno == EWOULDBLOCK ?
			"in use by another process (locked)" : strerror(errno));
		goto fail;
	}
	/* leftovers of a rewrite interrupted by a crash */
	unlinkat(s->dirfd, SPOOL_FILE_TMP, 0);
	unlinkat(s->dirfd, SPOOL_BOOT_TMP, 0);
	s->fd = openat(s->dirfd, SPOOL_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0 || fstat(s->fd, &sb) < 0) {
		set_err(err, cap, "spool: %s/%s: cannot open: %s", dir, SPOOL_FILE, strerror(errno));
		goto fail;
	}
	s->size = (uint64_t)sb.st_size;
	if (scan(s, dir, &max_boot, err, cap) < 0)
		goto fail;
	e = read_boot(s->dirfd, &file_boot);
	if (e < 0) {
		set_err(err, cap, "spool: %s/%s: %s", dir, SPOOL_BOOT,
			e == -EINVAL ? "not a decimal boot counter" : strerror(-e));
		goto fail;
	}
	/* the spool wins over a boot file that a power cut set back */
	s->boot = (file_boot > max_boot ? file_boot : max_boot);
	if (s->boot >= UINT64_MAX - 1) {
		set_err(err, cap, "spool: %s/%s: boot counter exhausted", dir, SPOOL_BOOT);
		goto fail;
	}
	s->boot++;
	e = write_boot(s->dirfd, s->boot);
	if (e < 0) {
		set_err(err, cap, "spool: %s/%s: cannot write: %s", dir, SPOOL_BOOT, strerror(-e));
		goto fail;
	}
	s->open_boot = s->boot;
	s->next_seq = 1;
	return s;

fail:
	spool_free(s);
	return NULL;
}

/* ---- queue ------------------------------------------------------------------------------- */

uint64_t spool_last_seq(const struct spool *s)
{
	return s->next_seq - 1;
}

uint64_t spool_boot(const struct spool *s)
{
	return s->boot;
}

int spool_push(struct spool *s, const void *payload, size_t len, uint64_t *boot, uint64_t *seq)
{
	uint8_t hdr[SPOOL_REC_HDR];
	struct iovec iov[2];
	uint64_t total = SPOOL_REC_HDR + (uint64_t)len, off = s->size;
	int e = 0;

	if (len > SPOOL_PAYLOAD_MAX) {
		s->ctr.dropped++;
		return -EMSGSIZE;
	}
	if (s->ctr.pending_bytes + total > s->max_bytes) {
		s->ctr.dropped++;
		return -ENOSPC;
	}
	rec_header(hdr, s->boot, s->next_seq, payload, len);
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
	iov[1] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	/* one write(2); a short one (disk nearly full) is continued, and
	 * whatever fails is cut back off */
	for (int i = 0; off < s->size + total;) {
		ssize_t w = pwritev(s->fd, iov + i, 2 - i, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? -errno : -EIO;
			break;
		}
		off += (uint64_t)w;
		while (i < 2 && (size_t)w >= iov[i].iov_len)
			w -= (ssize_t)iov[i++].iov_len;
		if (i < 2) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
	if (e < 0) {
		s->ctr.io_errors++;
		/* if this fails too, the next record overwrites the debris
		 * and spool_open cuts off what sticks out */
		if (off > s->size && ftruncate(s->fd, (off_t)s->size) < 0)
			s->ctr.io_errors++;
		return e;
	}
	if (boot)
		*boot = s->boot;
	if (seq)
		*seq = s->next_seq;
	s->next_seq++;
	s->size += total;
	s->ctr.pushed++;
	s->ctr.pending++;
	s->ctr.pending_bytes += total;
	return 0;
}

int spool_next(struct spool *s, struct spool_rec *rec)
{
	uint64_t total = 0;
	int st;

	if (s->cursor >= s->size)
		return -ENOENT;
	st = rec_read(s, s->cursor, true, rec, &total);
	if (st != REC_OK) {
		s->ctr.io_errors++;
		return -EIO;
	}
	s->cursor += total;
	if (s->cursor > s->sent_end)
		s->sent_end = s->cursor;
	return 0;
}

void spool_rewind(struct spool *s)
{
	s->cursor = s->head;
}

static void truncate_all(struct spool *s)
{
	if (ftruncate(s->fd, 0) < 0) {
		s->ctr.io_errors++;
		return;
	}
	s->size = s->head = s->cursor = s->sent_end = s->compact_at = 0;
	buf_drop(s);
}

static void maybe_compact(struct spool *s)
{
	if (s->head <= SPOOL_COMPACT_MIN || s->head <= s->size / 2 || s->head < s->compact_at)
		return;
	if (rewrite(s, UINT64_MAX, 0, NULL) < 0) {
		s->ctr.io_errors++;
		s->compact_at = s->head + SPOOL_COMPACT_MIN;
		return;
	}
	s->ctr.compactions++;
}

int spool_confirm(struct spool *s, size_t n)
{
	uint64_t off = s->head;

	if (n > s->ctr.pending)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct spool_rec rec;
		uint64_t total = 0;

		if (rec_read(s, off, false, &rec, &total) != REC_OK) {
			s->ctr.io_errors++;
			return -EIO;
		}
		off += total;
	}
	s->ctr.pending -= n;
	s->ctr.pending_bytes -= off - s->head;
	s->ctr.confirmed += n;
	s->head = off;
	if (s->cursor < s->head)
		s->cursor = s->head;
	if (s->ctr.pending == 0)
		truncate_all(s);
	else
		maybe_compact(s);
	return 0;
}

int spool_set_min_boot(struct spool *s, uint64_t min_boot)
{
	uint64_t off = s->sent_end > s->head ? s->sent_end : s->head, n = 0;
	int r = 0, e;

	if (min_boot <= s->boot)
		return 0;
	if (min_boot >= UINT64_MAX - 1)
		return -ERANGE;
	/* this process's records never handed out: the tail of the file */
	while (off < s->size) {
		struct spool_rec rec;
		uint64_t total = 0;

		if (rec_read(s, off, false, &rec, &total) != REC_OK) {
			r = -EIO;
			break;
		}
		if (rec.boot >= s->open_boot)
			break;
		off += total;
	}
	/* the new IDs go to disk before the new boot: a crash in between
	 * leaves records of min_boot, which spool_open then starts above */
	if (r == 0 && off < s->size)
		r = rewrite(s, off, min_boot, &n);
	if (r < 0) {
		s->ctr.io_errors++;
		n = 0;
	}
	e = write_boot(s->dirfd, min_boot);
	if (e < 0) {
		s->ctr.io_errors++;
		if (r == 0)
			r = e;
	}
	s->boot = min_boot;
	s->next_seq = n + 1;
	return r;
}

const struct spool_counters *spool_counters(const struct spool *s)
{
	return &s->ctr;
}

void spool_free(struct spool *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->buf);
	free(s);
}
