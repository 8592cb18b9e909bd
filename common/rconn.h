/* SPDX-License-Identifier: MIT */
/*
 * rconn: opening a hiredis async connection on a libevent loop the way
 * both daemons do (I/O; both processes): the address syntax (HOST:PORT,
 * [V6]:PORT, unix:PATH), AUTH with an optional ACL user, and the secret
 * read from a file so it never appears in a process listing.
 */
#ifndef TAPWARDEN_RCONN_H
#define TAPWARDEN_RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>

struct event_base;

struct rconn_config {
	const char *addr;        /* HOST:PORT, [V6]:PORT, unix:PATH */
	const char *user;        /* ACL user, or NULL (the default user) */
	const char *password;    /* NULL: no AUTH */
};

/* Is addr a Redis address rconn_open accepts? */
bool rconn_addr_valid(const char *addr);

/*
 * Start connecting: returns the context (hiredis owns it: it is freed
 * after a failed connect callback or a disconnect callback) with data set,
 * attached to base, callbacks set and AUTH queued first (its refusal fails
 * the next command).  NULL when the context could not be made, with the
 * reason in err.
 */
redisAsyncContext *rconn_open(const struct rconn_config *cfg, struct event_base *base, void *data,
			      redisConnectCallback *on_connect, redisDisconnectCallback *on_disconnect,
			      char *err, size_t cap);

/* The first line of path (returned owned), or NULL with the reason in err. */
char *rconn_read_secret(const char *path, char *err, size_t cap);

#endif
