/* SPDX-License-Identifier: MIT */
/*
 * spool: the agent's bounded, crash-safe, ordered queue of reports waiting
 * to be written to the Redis report stream (agent process, synchronous
 * file I/O on the daemon's loop; used by report.c).
 *
 * Every report gets its stream ID BOOT-SEQ when it is pushed: BOOT counts
 * the agent's starts (dir/boot, rewritten atomically at each open), SEQ
 * counts 1, 2, ... within a boot, so IDs only grow, across restarts too.
 * Records are appended to dir/reports.spool, one write(2) each and no
 * fsync: a crashed or killed agent loses nothing, a power cut may lose the
 * last seconds.  On open every valid record is pending again and is
 * replayed with its original ID; Redis refuses an ID that is not above the
 * stream's top, which is how the publisher recognises what it already
 * holds.  A torn or corrupt tail is cut off, everything before it is kept.
 *
 * The publisher sends from a cursor (spool_next), confirms in order
 * (spool_confirm) and goes back to the oldest unconfirmed record when its
 * connection breaks (spool_rewind).  Pending bytes never exceed max_bytes:
 * a push beyond it is refused and counted, never queued.
 */
#ifndef TAPWARDEN_SPOOL_H
#define TAPWARDEN_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_PAYLOAD_MAX (1u << 20)   /* bytes of one record's payload */
#define SPOOL_REC_HDR 28               /* magic, len, boot, seq, crc: on-disk overhead */
#define SPOOL_COMPACT_MIN (1u << 20)   /* compact once this much is confirmed (and half) */

struct spool;

/* One pending record.  payload is borrowed from the spool's read buffer
 * and valid until the next call on the spool. */
struct spool_rec {
	uint64_t boot, seq;
	const uint8_t *payload;
	size_t len;
};

struct spool_counters {
	uint64_t pushed;           /* records accepted since open */
	uint64_t confirmed;        /* records confirmed since open */
	uint64_t dropped;          /* pushes refused: spool full or payload too large */
	uint64_t truncated_bytes;  /* torn or corrupt tail cut off at open */
	uint64_t compactions;
	uint64_t io_errors;        /* failed reads, writes, truncations, rewrites */
	uint64_t pending;          /* records not yet confirmed */
	uint64_t pending_bytes;    /* their size on disk, headers included */
};

/*
 * Open (creating it 0700 if missing) the state directory dir (borrowed),
 * take its lock (one agent per directory), scan dir/reports.spool and
 * start a new boot: max(dir/boot, the highest boot in the spool) + 1,
 * persisted before returning.  max_bytes (> 0) caps the pending bytes;
 * what is already pending is kept even above it, and pushes wait until
 * confirmations bring it below.
 *
 * Returns an owned spool (spool_free), or NULL with the reason in err.  On
 * success err is empty, or says what was cut off a torn tail: the caller
 * logs it when err[0] != '\0'.
 */
struct spool *spool_open(const char *dir, uint64_t max_bytes, char *err, size_t cap);

/* The current boot: the BOOT of the next record pushed. */
uint64_t spool_boot(const struct spool *s);

/*
 * Continue with boot = at least min_boot (no-op when it already is), for
 * when Redis holds IDs at or above ours (state directory lost, or the boot
 * file lost in a power cut).  Persists it.  New records get the new boot,
 * SEQ from 1.  Pending records keep their IDs, except the records of the
 * current boot that spool_next never handed out since open: those cannot
 * be in Redis, and with their old IDs Redis would refuse them as already
 * there, so they are given new IDs (same order) in the new boot.  Returns
 * 0, -ERANGE (min_boot too close to UINT64_MAX; nothing changed), or
 * -errno of a failed rewrite or boot file (counted; the boot is raised in
 * memory all the same, and a record that kept its old ID is then refused
 * by Redis as already there).
 */
int spool_set_min_boot(struct spool *s, uint64_t min_boot);

/* The highest SEQ given out in the current boot (0: none yet). */
uint64_t spool_last_seq(const struct spool *s);

/*
 * Append a copy of payload (borrowed, len bytes) and set *boot, *seq to
 * its ID (either pointer may be NULL).  Returns 0, -EMSGSIZE (len >
 * SPOOL_PAYLOAD_MAX) or -ENOSPC (pending bytes would exceed max_bytes):
 * both counted in dropped; or -errno of a failed write (counted in
 * io_errors; the file is cut back, nothing half-written stays).  A refused
 * push consumes no SEQ.
 */
int spool_push(struct spool *s, const void *payload, size_t len, uint64_t *boot, uint64_t *seq);

/*
 * The record after the last one handed out (after the head following
 * spool_open or spool_rewind), in order; *rec borrows the read buffer
 * (see struct spool_rec).  Returns 0, -ENOENT when every pending record
 * has been handed out, or -EIO (the record cannot be read or fails its
 * check; counted).  A record handed out is taken to be possibly sent: see
 * spool_set_min_boot.
 */
int spool_next(struct spool *s, struct spool_rec *rec);

/* Hand records out again from the oldest pending one. */
void spool_rewind(struct spool *s);

/*
 * The n oldest pending records are in Redis: drop them.  Records handed
 * out stay handed out (the cursor moves only if it was among them).
 * When nothing is left pending the file is truncated to 0; when the
 * confirmed part passes SPOOL_COMPACT_MIN and half the file, the pending
 * part is copied to a new file (fsync, rename).  Returns 0, -EINVAL (n >
 * pending; nothing confirmed) or -EIO (a header cannot be read).  A failed
 * truncation or compaction is counted and retried later, not returned.
 */
int spool_confirm(struct spool *s, size_t n);

/* Borrowed; valid until spool_free. */
const struct spool_counters *spool_counters(const struct spool *s);

/* Close the files and release the lock; pending records stay on disk.
 * Accepts NULL. */
void spool_free(struct spool *s);

#endif
