/* SPDX-License-Identifier: MIT */
/*
 * datafile: the installed policy data files (default.yaml, replies.yaml,
 * shorteners.txt) and the host list format, for the agent and for twctl's
 * offline lint (both processes; file I/O at startup only).
 */
#ifndef TAPWARDEN_DATAFILE_H
#define TAPWARDEN_DATAFILE_H

#include <stddef.h>

#define DATAFILE_MAX_HOSTS 4096

/* Path of policies/FILE: TW_DATADIR, else relative to the running binary
 * (../share/tapwarden/policies, ../policies).  Writes into buf (cap);
 * returns buf, or NULL when no readable file was found. */
const char *datafile_path(const char *file, char *buf, size_t cap);
/* One lower-case host per line ('#' comments, blanks ignored) into a
 * NULL-terminated array; *out is owned by the caller (free each entry,
 * then the array).  Errors are logged with file:line.  0 or -errno. */
int datafile_hosts(const char *path, char ***out, size_t *n_out);

#endif
