/* SPDX-License-Identifier: MIT */
/*
 * main: command line of tapwarden-agent (agent process).  Offline mode:
 * --read a capture, write one JSON line per SMTP session (--sessions), and
 * print the packet path's counters.  Live capture on the hypervisor's taps
 * is the daemon mode (see the README for what is built).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "jsonw.h"
#include "log.h"
#include "output.h"
#include "session.h"

#ifndef TW_VERSION
#define TW_VERSION "0.1.0"
#endif
#ifndef TW_DATADIR
#define TW_DATADIR "/usr/local/share/tapwarden"
#endif

#define MAX_SHORTENERS 4096

struct opts {
	const char *read;
	const char *sessions;
	const char *stats;
	const char *shorteners;
	bool check_only;
	struct session_config cfg;
	uint32_t max_waiting;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: tapwarden-agent --read FILE --sessions OUT [options]\n"
"\n"
"Reconstructs every SMTP session of a capture (pcap or pcapng; Ethernet with\n"
"802.1Q/QinQ tags, Linux cooked SLL/SLL2, raw IP; IPv4 and IPv6) and writes\n"
"one JSON object per session, in order of session start.\n"
"\n"
"  -r, --read FILE          capture file to read\n"
"  -w, --sessions OUT       session JSON lines to OUT (\"-\" = stdout)\n"
"  -p, --ports LIST         server ports to watch, comma-separated (default 25)\n"
"      --sample FRACTION    fraction of sessions whose message content is\n"
"                           parsed, 0..1 (default 1); all sessions are counted\n"
"      --max-parsers N      messages whose content is parsed at the same time\n"
"                           (default 4096); content beyond is counted only\n"
"      --max-flows N        flows tracked at once (default 262144; the oldest\n"
"                           idle flow is evicted when full)\n"
"      --flow-buffer BYTES  out-of-order bytes buffered per direction (default 65536)\n"
"      --total-buffer BYTES out-of-order bytes buffered in all (default 134217728)\n"
"      --idle-timeout SEC   a flow idle this long ends as \"timeout\" (default 300)\n"
"      --shorteners FILE    URL shortener list (default: the installed\n"
"                           policies/shorteners.txt)\n"
"      --stats FILE         write the packet path's counters as JSON to FILE\n"
"  -n, --check              validate options and files, print \"configuration OK\"\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n"
"\n"
"Exit status: 0 on success, 1 on a usage or input error, 2 on an output error.\n"
"See tapwarden-agent(8) and the README for the session JSON schema.\n");
}

/* Parse an unsigned decimal in [lo, hi]; false on junk or range. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_ports(const char *s, struct session_config *cfg)
{
	char buf[256];
	size_t n = 0;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (n >= SESSION_MAX_PORTS || !parse_u64(tok, 1, 65535, &v))
			return false;
		cfg->ports[n++] = (uint16_t)v;
	}
	if (!n)
		return false;
	cfg->n_ports = n;
	return true;
}

/* Default shortener list: installed data dir, else ../policies next to the
 * binary (an uninstalled build in the source tree). */
static const char *default_shorteners(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/policies/shorteners.txt", TW_DATADIR);
	if (access(buf, R_OK) == 0)
		return buf;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, cap, "%s/../policies/shorteners.txt", exe);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	return NULL;
}

/*
 * Load one host per line ('#' comments, blanks ignored) into a NULL-
 * terminated owned array.  Errors name file:line.  0 or -errno.
 */
static int load_shorteners(const char *path, char ***out, size_t *n_out)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	size_t n = 0;
	int errors = 0;
	char **list;

	if (!f) {
		log_err("config: cannot open shortener list file=%s error=\"%s\"", path, strerror(errno));
		return -errno;
	}
	list = calloc(MAX_SHORTENERS + 1, sizeof(*list));
	if (!list) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line, *e;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, "#\r\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		if (!*p)
			continue;
		bool ok = strlen(p) < 254;
		for (char *q = p; ok && *q; q++) {
			*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
			ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '.';
		}
		if (!ok) {
			log_err("config: %s:%u: not a host name", path, lineno);
			errors++;
			continue;
		}
		if (n >= MAX_SHORTENERS) {
			log_err("config: %s:%u: more than %d entries", path, lineno, MAX_SHORTENERS);
			errors++;
			break;
		}
		list[n] = strdup(p);
		if (!list[n]) {
			errors++;
			break;
		}
		n++;
	}
	fclose(f);
	if (errors) {
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
		return -EINVAL;
	}
	*out = list;
	*n_out = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SAMPLE = 256, O_MAXPARSERS, O_MAXFLOWS, O_FLOWBUF, O_TOTALBUF, O_IDLE, O_SHORT, O_STATS };
	static const struct option lopts[] = {
		{ "read", required_argument, NULL, 'r' },
		{ "sessions", required_argument, NULL, 'w' },
		{ "ports", required_argument, NULL, 'p' },
		{ "sample", required_argument, NULL, O_SAMPLE },
		{ "max-flows", required_argument, NULL, O_MAXFLOWS },
		{ "max-parsers", required_argument, NULL, O_MAXPARSERS },
		{ "flow-buffer", required_argument, NULL, O_FLOWBUF },
		{ "total-buffer", required_argument, NULL, O_TOTALBUF },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "shorteners", required_argument, NULL, O_SHORT },
		{ "stats", required_argument, NULL, O_STATS },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, errors = 0;
	uint64_t v;

	while ((c = getopt_long(argc, argv, "r:w:p:nvhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->read = optarg; break;
		case 'w': o->sessions = optarg; break;
		case 'p':
			if (!parse_ports(optarg, &o->cfg)) {
				log_err("config: --ports: expected a comma-separated list of 1..65535, got \"%s\"", optarg);
				errors++;
			}
			break;
		case O_SAMPLE: {
			char *end;
			double f = strtod(optarg, &end);
			if (end == optarg || *end || !(f >= 0.0 && f <= 1.0)) {
				log_err("config: --sample: expected a fraction 0..1, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.content_sample = f;
			}
			break;
		}
		case O_MAXPARSERS:
			if (!parse_u64(optarg, 1, 1u << 20, &v)) {
				log_err("config: --max-parsers: expected 1..1048576, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.max_parsers = (uint32_t)v;
			}
			break;
		case O_MAXFLOWS:
			if (!parse_u64(optarg, 16, 16u << 20, &v)) {
				log_err("config: --max-flows: expected 16..16777216, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.flow.max_flows = (uint32_t)v;
			}
			break;
		case O_FLOWBUF:
			if (!parse_u64(optarg, 1024, 64u << 20, &v)) {
				log_err("config: --flow-buffer: expected 1024..67108864, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.flow.max_flow_buffer = (uint32_t)v;
			}
			break;
		case O_TOTALBUF:
			if (!parse_u64(optarg, 65536, 1ULL << 36, &v)) {
				log_err("config: --total-buffer: expected 65536..68719476736, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.flow.max_total_buffer = v;
			}
			break;
		case O_IDLE:
			if (!parse_u64(optarg, 1, 86400, &v)) {
				log_err("config: --idle-timeout: expected 1..86400 seconds, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.flow.idle_timeout_s = (uint32_t)v;
			}
			break;
		case O_SHORT: o->shorteners = optarg; break;
		case O_STATS: o->stats = optarg; break;
		case 'n': o->check_only = true; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("tapwarden-agent %s\n", TW_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("config: unexpected argument \"%s\"", argv[optind]);
		errors++;
	}
	if (!o->check_only && !o->read) {
		log_err("config: live capture is not available in this build yet; use --read FILE");
		errors++;
	}
	if (o->read && !o->sessions)
		o->sessions = "-";
	return errors ? -EINVAL : 0;
}

static void write_stats(const char *path, const struct capture_counters *cc,
			const struct session_tracker *t, const struct output_counters *oc)
{
	static const char *dnames[] = { "ok", "not_tcp", "fragment", "malformed", "truncated", "unsupported" };
	const struct flow_counters *fc = session_tracker_flow_counters(t);
	const struct session_counters *sc = session_tracker_counters(t);
	struct jsonw w;
	FILE *f;

	jsonw_init(&w);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "frames"); jsonw_uint(&w, cc->frames);
	jsonw_key(&w, "bytes"); jsonw_uint(&w, cc->bytes);
	jsonw_key(&w, "ts_backwards"); jsonw_uint(&w, cc->ts_backwards);
	jsonw_key(&w, "decode");
	jsonw_obj_begin(&w);
	for (int i = 0; i <= DECODE_UNSUPPORTED; i++) {
		jsonw_key(&w, dnames[i]);
		jsonw_uint(&w, cc->decode[i]);
	}
	jsonw_obj_end(&w);
	jsonw_key(&w, "flow");
	jsonw_obj_begin(&w);
#define FC(x) do { jsonw_key(&w, #x); jsonw_uint(&w, fc->x); } while (0)
	FC(packets); FC(flows_created); FC(flows_midstream); FC(flows_evicted);
	FC(flows_timed_out); FC(flows_ignored); FC(flows_active); FC(retransmitted_bytes);
	FC(overlap_conflicts); FC(out_of_order_segments); FC(gaps); FC(gap_bytes);
	FC(flow_buffer_cap_hits); FC(total_buffer_cap_hits); FC(buffered_bytes);
	FC(buffered_bytes_peak); FC(late_packets);
#undef FC
	jsonw_obj_end(&w);
	jsonw_key(&w, "sessions");
	jsonw_obj_begin(&w);
#define SC(x) do { jsonw_key(&w, #x); jsonw_uint(&w, sc->x); } while (0)
	SC(sessions_opened); SC(sessions_closed); SC(messages); SC(messages_sampled);
	SC(txns_dropped); SC(rcpts_dropped); SC(oom);
	SC(parsers_peak); SC(parsers_exhausted);
#undef SC
	jsonw_key(&w, "anomalies");
	jsonw_obj_begin(&w);
	for (int i = 0; i < SMTP_AN_COUNT; i++) {
		jsonw_key(&w, smtp_anomaly_name((enum smtp_anomaly)i));
		jsonw_uint(&w, sc->anomalies[i]);
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_key(&w, "output");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "written"); jsonw_uint(&w, oc->written);
	jsonw_key(&w, "out_of_order"); jsonw_uint(&w, oc->out_of_order);
	jsonw_key(&w, "waiting_peak"); jsonw_uint(&w, oc->waiting_peak);
	jsonw_key(&w, "spilled"); jsonw_uint(&w, oc->spilled);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);

	f = strcmp(path, "-") == 0 ? stderr : fopen(path, "w");
	if (!f) {
		log_err("agent: cannot write stats file=%s error=\"%s\"", path, strerror(errno));
	} else {
		fwrite(w.buf, 1, w.len, f);
		fputc('\n', f);
		if (f != stderr)
			fclose(f);
	}
	jsonw_fini(&w);
}

int main(int argc, char **argv)
{
	struct opts o;
	char **shorteners = NULL;
	size_t n_shorteners = 0;
	char pathbuf[PATH_MAX + 64], err[512];
	struct capture_counters cc;
	FILE *out = NULL;
	struct output *writer = NULL;
	struct session_tracker *t = NULL;
	int rc = 1, r;

	memset(&o, 0, sizeof(o));
	session_config_default(&o.cfg);
	o.max_waiting = 1u << 22;
	if (parse_args(argc, argv, &o) < 0)
		return 1;

	if (!o.shorteners)
		o.shorteners = default_shorteners(pathbuf, sizeof(pathbuf));
	if (o.shorteners) {
		if (load_shorteners(o.shorteners, &shorteners, &n_shorteners) < 0)
			return 1;
		o.cfg.message.shorteners = (const char *const *)shorteners;
		o.cfg.message.n_shorteners = n_shorteners;
	} else {
		log_warn("config: no shortener list found; links.shortener stays 0 (use --shorteners FILE)");
	}
	if (o.check_only) {
		printf("configuration OK\n");
		rc = 0;
		goto done;
	}

	out = strcmp(o.sessions, "-") == 0 ? stdout : fopen(o.sessions, "w");
	if (!out) {
		log_err("agent: cannot write sessions file=%s error=\"%s\"", o.sessions, strerror(errno));
		goto done;
	}
	/* sessions are written in large chunks */
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	writer = output_new(out, o.max_waiting, 8u << 20);
	t = writer ? session_tracker_new(&o.cfg, output_session, writer) : NULL;
	if (!t) {
		log_err("agent: out of memory at start");
		goto done;
	}
	r = capture_read_file(o.read, t, &cc, err, sizeof(err));
	if (r < 0) {
		log_err("capture: %s", err);
		goto done;
	}
	if (err[0])
		log_warn("capture: %s", err);
	rc = 0;
	if (output_finish(writer) < 0) {
		log_err("agent: writing sessions failed file=%s", o.sessions);
		rc = 2;
	}
	{
		const struct session_counters *sc = session_tracker_counters(t);
		const struct flow_counters *fc = session_tracker_flow_counters(t);
		log_info("agent: done file=%s frames=%llu sessions=%llu messages=%llu malformed=%llu truncated=%llu gaps=%llu evicted=%llu",
			 o.read, (unsigned long long)cc.frames,
			 (unsigned long long)sc->sessions_closed, (unsigned long long)sc->messages,
			 (unsigned long long)cc.decode[DECODE_MALFORMED],
			 (unsigned long long)cc.decode[DECODE_TRUNCATED],
			 (unsigned long long)fc->gaps, (unsigned long long)fc->flows_evicted);
	}
	if (o.stats)
		write_stats(o.stats, &cc, t, output_counters(writer));
done:
	session_tracker_free(t);
	output_free(writer);
	if (out && out != stdout && fclose(out) != 0 && rc == 0) {
		log_err("agent: closing sessions file failed file=%s error=\"%s\"", o.sessions, strerror(errno));
		rc = 2;
	}
	if (out == stdout && fflush(stdout) != 0 && rc == 0)
		rc = 2;
	for (size_t i = 0; i < n_shorteners; i++)
		free(shorteners[i]);
	free(shorteners);
	return rc;
}
