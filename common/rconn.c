/* SPDX-License-Identifier: MIT */
/*
 * rconn: hiredis async connections for the agent's report link and the
 * controller (see rconn.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "netaddr.h"
#include "rconn.h"

bool rconn_addr_valid(const char *addr)
{
	char host[256];
	uint16_t port;

	if (addr && strncmp(addr, "unix:", 5) == 0)
		return addr[5] != '\0';
	return netaddr_parse(addr, host, sizeof(host), &port) == 0 && host[0];
}

redisAsyncContext *rconn_open(const struct rconn_config *cfg, struct event_base *base, void *data,
			      redisConnectCallback *on_connect, redisDisconnectCallback *on_disconnect,
			      char *err, size_t cap)
{
	redisAsyncContext *ac;
	char host[256];
	uint16_t port;

	if (strncmp(cfg->addr, "unix:", 5) == 0) {
		ac = redisAsyncConnectUnix(cfg->addr + 5);
	} else if (netaddr_parse(cfg->addr, host, sizeof(host), &port) == 0 && host[0]) {
		ac = redisAsyncConnect(host, port);
	} else {
		snprintf(err, cap, "redis address \"%s\": expected HOST:PORT, [V6]:PORT or unix:PATH", cfg->addr);
		return NULL;
	}
	if (!ac) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	if (ac->err) {
		snprintf(err, cap, "%s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = data;
	redisLibeventAttach(ac, base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (cfg->password) {
		const char *argv[3] = { "AUTH" };
		size_t lens[3] = { 4 };
		int n = 1;

		if (cfg->user) {
			argv[n] = cfg->user;
			lens[n++] = strlen(cfg->user);
		}
		argv[n] = cfg->password;
		lens[n++] = strlen(cfg->password);
		redisAsyncCommandArgv(ac, NULL, NULL, n, argv, lens);
	}
	return ac;
}

char *rconn_read_secret(const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "r");
	char buf[512];
	char *s;

	if (!f) {
		snprintf(err, cap, "cannot open the Redis password file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		snprintf(err, cap, "the Redis password file %s is empty", path);
		return NULL;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0]) {
		snprintf(err, cap, "the Redis password file %s is empty", path);
		return NULL;
	}
	s = strdup(buf);
	if (!s)
		snprintf(err, cap, "out of memory");
	return s;
}
