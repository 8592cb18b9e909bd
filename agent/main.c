/* SPDX-License-Identifier: MIT */
/*
 * main: command line of tapwarden-agent (agent process).  Offline mode:
 * --read a capture, write one JSON line per SMTP session (--sessions), and
 * print the packet path's counters; with --vm-map and --verdicts, replay
 * detection.  Without --read: the live daemon (daemon.c) on the taps of the
 * running libvirt domains.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpffilter.h"
#include "capture.h"
#include "daemon.h"
#include "datafile.h"
#include "detect.h"
#include "enforce_nft.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "rconn.h"
#include "bus.h"
#include "observe.h"
#include "output.h"
#include "policy.h"
#include "session.h"
#include "verdict_json.h"
#include "vmmap_file.h"
#include "whitelist.h"

#ifndef TW_VERSION
#define TW_VERSION "0.0.0-unknown"   /* the Makefile passes VERSION */
#endif
#ifndef TW_DATADIR
#define TW_DATADIR "/usr/local/share/tapwarden"
#endif


struct opts {
	const char *read;
	const char *sessions;
	const char *stats;
	const char *shorteners;
	const char *policy;
	const char *replies;
	const char *vm_map;
	const char *verdicts;
	const char *reports;          /* offline: the controller's reports, as JSON lines */
	uint32_t max_vms;
	const char *libvirt;
	const char *metrics;
	const char *whitelist;
	uint32_t capture_buffer;
	uint32_t resync_s;
	const char *redis, *redis_user, *redis_pwfile, *prefix, *agent_id, *state_dir;
	uint64_t spool_max;
	uint32_t heartbeat_s;
	bool set_max_flows, set_total_buffer, set_max_parsers;
	bool check_only;
	bool print_filter;
	bool dry_run;
	bool remove_enforcement;
	struct session_config cfg;
	uint32_t max_waiting;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: tapwarden-agent --read FILE --sessions OUT [options]   (offline)\n"
"       tapwarden-agent [--libvirt URI] [--verdicts OUT] [--metrics ADDR:PORT] [options]\n"
"                                                              (live daemon)\n"
"\n"
"Reconstructs every SMTP session of a capture (pcap or pcapng; Ethernet with\n"
"802.1Q/QinQ tags, Linux cooked SLL/SLL2, raw IP; IPv4 and IPv6) and writes\n"
"one JSON object per session, in order of session start.\n"
"\n"
"  -r, --read FILE          capture file to read (\"-\" = standard input)\n"
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
"\n"
"Detection (offline replay; the same code as the live daemon):\n"
"      --vm-map FILE        JSON object: guest IP (or MAC) -> {\"uuid\", \"name\",\n"
"                           \"plan\", \"whitelisted\"}; sessions are attributed by\n"
"                           their client address\n"
"      --verdicts OUT       verdict changes as JSON lines to OUT (\"-\" = stdout);\n"
"                           needs --vm-map; sessions are then written only\n"
"                           with --sessions\n"
"      --reports OUT        with --verdicts: the reports the live agent would\n"
"                           send the controller, one JSON object per line:\n"
"                           {\"type\": \"verdict\"|\"stats\", \"ts\", \"body\"}, stats\n"
"                           every 10 s of capture time (tapwarden-controller\n"
"                           --replay runs them through its global rules)\n"
"      --policy FILE        detection policy (default: the installed\n"
"                           policies/default.yaml)\n"
"      --replies FILE       reply classification patterns (default: the\n"
"                           installed policies/replies.yaml)\n"
"      --max-vms N          VMs tracked at once (default 4096)\n"
"\n"
"Live daemon (no --read): one capture per tap of each running libvirt\n"
"domain, detection per VM, and blocks enforced with nftables (table netdev\n"
"tapwarden; blocks stay when the agent stops and expire in the kernel).\n"
"--max-flows, --total-buffer and --max-parsers apply per tap (defaults 16384,\n"
"16 MiB, 256); --verdicts needs no --vm-map.\n"
"      --libvirt URI        libvirt connection, read-only (default qemu:///system)\n"
"      --metrics ADDR:PORT  Prometheus text endpoint at /metrics (default off);\n"
"                           \":PORT\" listens on every address\n"
"      --capture-buffer BYTES  kernel capture buffer per tap (default 4194304)\n"
"      --whitelist FILE     approved bulk senders, one domain UUID per line\n"
"                           (\"UUID [until EPOCH] [scale N]\"; scale: raised limits,\n"
"                           not an exemption); merged with the controller's\n"
"      --resync-interval SEC  full re-sync with libvirt this often, and a\n"
"                           reconnect when libvirtd restarted (default 300)\n"
"      --dry-run            enforce nothing: log the nftables changes a block\n"
"                           would make (also when the policy is observe_only)\n"
"      --remove-enforcement delete table netdev tapwarden (every block) and exit\n"
"      --print-filter       print the capture filter the daemon installs on each\n"
"                           tap for --ports (pcap-filter(7) text) and exit\n"
"      --redis ADDR         report to the controller through Redis at HOST:PORT\n"
"                           or unix:PATH, and apply its commands and whitelist\n"
"                           (default: standalone, no controller)\n"
"      --redis-user NAME    Redis ACL user (with --redis-password-file)\n"
"      --redis-password-file FILE  the Redis password (first line of FILE)\n"
"      --prefix P           Redis key prefix (default tw)\n"
"      --agent-id ID        this hypervisor's name on the bus (default: host name)\n"
"      --state-dir DIR      report spool, command cursor, whitelist cache\n"
"                           (default /var/lib/tapwarden)\n"
"      --spool-max BYTES    reports kept on disk while Redis is away (default\n"
"                           67108864); beyond, reports are dropped and counted\n"
"      --heartbeat SEC      heartbeat interval (default 5)\n"
"SIGHUP reloads --policy, --replies and --whitelist atomically: a file with\n"
"errors is logged with file:line and the running configuration is kept.\n"
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

/* The live daemon's Redis settings; the password is read from its file. */
static int fill_report(const struct opts *o, struct report_config *rc, char *pw, size_t pwcap,
		       char *host, size_t hcap)
{
	memset(rc, 0, sizeof(*rc));
	rc->redis = o->redis;
	rc->user = o->redis_user;
	rc->prefix = o->prefix ? o->prefix : "tw";
	if (o->agent_id) {
		rc->agent_id = o->agent_id;
	} else {
		if (gethostname(host, hcap) != 0) {
			log_err("config: cannot read the host name (give --agent-id)");
			return -EINVAL;
		}
		host[hcap - 1] = '\0';
		rc->agent_id = host;
	}
	rc->state_dir = o->state_dir ? o->state_dir : "/var/lib/tapwarden";
	rc->spool_max = o->spool_max ? o->spool_max : 64ull << 20;
	rc->heartbeat_s = o->heartbeat_s ? o->heartbeat_s : 5;
	rc->version = TW_VERSION;
	if (o->redis_pwfile) {
		char err[600];
		char *secret = rconn_read_secret(o->redis_pwfile, err, sizeof(err));

		if (!secret || strlen(secret) >= pwcap) {
			log_err("config: %s", secret ? "the Redis password is too long" : err);
			free(secret);
			return -EINVAL;
		}
		strcpy(pw, secret);
		free(secret);
		rc->password = pw;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SAMPLE = 256, O_MAXPARSERS, O_MAXFLOWS, O_FLOWBUF, O_TOTALBUF, O_IDLE, O_SHORT, O_STATS,
	       O_POLICY, O_REPLIES, O_VMMAP, O_VERDICTS, O_MAXVMS, O_LIBVIRT, O_METRICS, O_CAPBUF,
	       O_WHITELIST, O_RESYNC, O_PRINTFILTER, O_DRYRUN, O_REMOVE, O_REDIS, O_RUSER, O_RPW, O_PREFIX,
	       O_AGENTID, O_STATEDIR, O_SPOOLMAX, O_HEARTBEAT, O_REPORTS };
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
		{ "policy", required_argument, NULL, O_POLICY },
		{ "replies", required_argument, NULL, O_REPLIES },
		{ "vm-map", required_argument, NULL, O_VMMAP },
		{ "verdicts", required_argument, NULL, O_VERDICTS },
		{ "reports", required_argument, NULL, O_REPORTS },
		{ "max-vms", required_argument, NULL, O_MAXVMS },
		{ "libvirt", required_argument, NULL, O_LIBVIRT },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "capture-buffer", required_argument, NULL, O_CAPBUF },
		{ "whitelist", required_argument, NULL, O_WHITELIST },
		{ "resync-interval", required_argument, NULL, O_RESYNC },
		{ "print-filter", no_argument, NULL, O_PRINTFILTER },
		{ "redis", required_argument, NULL, O_REDIS },
		{ "redis-user", required_argument, NULL, O_RUSER },
		{ "redis-password-file", required_argument, NULL, O_RPW },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "agent-id", required_argument, NULL, O_AGENTID },
		{ "state-dir", required_argument, NULL, O_STATEDIR },
		{ "spool-max", required_argument, NULL, O_SPOOLMAX },
		{ "heartbeat", required_argument, NULL, O_HEARTBEAT },
		{ "dry-run", no_argument, NULL, O_DRYRUN },
		{ "remove-enforcement", no_argument, NULL, O_REMOVE },
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
				o->set_max_parsers = true;
			}
			break;
		case O_MAXFLOWS:
			if (!parse_u64(optarg, 16, 16u << 20, &v)) {
				log_err("config: --max-flows: expected 16..16777216, got \"%s\"", optarg);
				errors++;
			} else {
				o->cfg.flow.max_flows = (uint32_t)v;
				o->set_max_flows = true;
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
				o->set_total_buffer = true;
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
		case O_POLICY: o->policy = optarg; break;
		case O_REPLIES: o->replies = optarg; break;
		case O_VMMAP: o->vm_map = optarg; break;
		case O_VERDICTS: o->verdicts = optarg; break;
		case O_REPORTS: o->reports = optarg; break;
		case O_MAXVMS:
			if (!parse_u64(optarg, 1, 1u << 20, &v)) {
				log_err("config: --max-vms: expected 1..1048576, got \"%s\"", optarg);
				errors++;
			} else {
				o->max_vms = (uint32_t)v;
			}
			break;
		case O_LIBVIRT: o->libvirt = optarg; break;
		case O_METRICS: {
			char host[256];
			uint16_t port;
			if (netaddr_parse(optarg, host, sizeof(host), &port) < 0) {
				log_err("config: --metrics: expected HOST:PORT, [V6]:PORT or :PORT, got \"%s\"", optarg);
				errors++;
			} else {
				o->metrics = optarg;
			}
			break;
		}
		case O_CAPBUF:
			if (!parse_u64(optarg, 65536, 1u << 30, &v)) {
				log_err("config: --capture-buffer: expected 65536..1073741824 bytes, got \"%s\"", optarg);
				errors++;
			} else {
				o->capture_buffer = (uint32_t)v;
			}
			break;
		case O_WHITELIST: o->whitelist = optarg; break;
		case O_RESYNC:
			if (!parse_u64(optarg, 5, 86400, &v)) {
				log_err("config: --resync-interval: expected 5..86400 seconds, got \"%s\"", optarg);
				errors++;
			} else {
				o->resync_s = (uint32_t)v;
			}
			break;
		case O_PRINTFILTER: o->print_filter = true; break;
		case O_REDIS: o->redis = optarg; break;
		case O_RUSER: o->redis_user = optarg; break;
		case O_RPW: o->redis_pwfile = optarg; break;
		case O_PREFIX: o->prefix = optarg; break;
		case O_AGENTID: o->agent_id = optarg; break;
		case O_STATEDIR: o->state_dir = optarg; break;
		case O_SPOOLMAX:
			if (!parse_u64(optarg, 65536, 1ull << 40, &v)) {
				log_err("config: --spool-max: expected 65536..1099511627776 bytes, got \"%s\"", optarg);
				errors++;
			} else {
				o->spool_max = v;
			}
			break;
		case O_HEARTBEAT:
			if (!parse_u64(optarg, 1, 300, &v)) {
				log_err("config: --heartbeat: expected 1..300 seconds, got \"%s\"", optarg);
				errors++;
			} else {
				o->heartbeat_s = (uint32_t)v;
			}
			break;
		case O_DRYRUN: o->dry_run = true; break;
		case O_REMOVE: o->remove_enforcement = true; break;
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
	if (!o->read && !o->check_only && !o->print_filter && !o->remove_enforcement) {
		/* live daemon */
		if (o->sessions || o->stats || o->vm_map) {
			log_err("config: --sessions, --stats and --vm-map are for --read (offline) only; "
				"the live daemon maps taps with libvirt and exports /metrics");
			errors++;
		}
	} else if (o->read && (o->libvirt || o->metrics || o->capture_buffer || o->whitelist ||
				o->resync_s || o->dry_run || o->redis)) {
		log_err("config: --libvirt, --metrics, --capture-buffer, --whitelist, --resync-interval, "
			"--redis and --dry-run are for the live daemon (no --read)");
		errors++;
	}
	if (!o->redis && (o->redis_user || o->redis_pwfile || o->prefix || o->agent_id || o->state_dir ||
			  o->spool_max || o->heartbeat_s)) {
		log_err("config: --redis-user, --redis-password-file, --prefix, --agent-id, --state-dir, "
			"--spool-max and --heartbeat need --redis");
		errors++;
	}
	if (o->redis && !rconn_addr_valid(o->redis)) {
		log_err("config: --redis \"%s\": expected HOST:PORT, [V6]:PORT or unix:PATH", o->redis);
		errors++;
	}
	if ((o->prefix && !bus_name_valid(o->prefix, BUS_PREFIX_MAX)) ||
	    (o->agent_id && !bus_name_valid(o->agent_id, BUS_AGENT_ID_MAX))) {
		log_err("config: --prefix and --agent-id: 1 to 64 of A-Z a-z 0-9 . _ -");
		errors++;
	}
	if (o->redis_user && !o->redis_pwfile) {
		log_err("config: --redis-user needs --redis-password-file");
		errors++;
	}
	if (o->read && o->verdicts && !o->vm_map) {
		log_err("config: --verdicts needs --vm-map (which guest is which VM)");
		errors++;
	}
	if (o->reports && (!o->read || !o->verdicts)) {
		log_err("config: --reports is for --read with --verdicts (the live agent sends its reports to Redis)");
		errors++;
	}
	if (o->read && !o->sessions && !o->verdicts)
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

/* Everything detection needs in offline replay; owned by main. */
struct detection {
	struct policy *policy;
	struct reply_patterns *replies;
	char policy_path[PATH_MAX + 64];   /* the files loaded, for a reload */
	char replies_path[PATH_MAX + 64];
	struct vmmap_file vms;
	struct detect *detect;
	FILE *out;                   /* verdict lines */
	struct jsonw w;
	uint64_t last_tick_s;
	uint64_t last_ts_us;
	uint64_t unattributed;       /* sessions of guests not in the map */
	bool write_failed;
	/* --reports: the VMs active since the last stats report, with their counts */
	FILE *reports;
	uint64_t report_s;           /* capture second of the next stats report */
	struct report_vm { char uuid[DETECT_ID_LEN], name[DETECT_ID_LEN]; uint64_t n[SJ_COUNTS]; } *rvm;
	size_t n_rvm, cap_rvm, last_rvm;
	bool reports_failed;
};


/* One report line {"type", "ts", "body"} of w's object. */
static void report_line(struct detection *det, const char *type, double ts, const struct jsonw *body)
{
	if (fprintf(det->reports, "{\"type\":\"%s\",\"ts\":%.6f,\"body\":", type, ts) < 0 ||
	    fwrite(body->buf, 1, body->len, det->reports) != body->len || fputs("}\n", det->reports) == EOF)
		det->reports_failed = true;
}

/* The stats report of the interval ending at now_s: every VM active in it. */
static void report_stats(struct detection *det, uint64_t now_s)
{
	if (!det->n_rvm)
		return;
	jsonw_reset(&det->w);
	jsonw_obj_begin(&det->w);
	jsonw_key(&det->w, "interval_s"); jsonw_uint(&det->w, STATS_REPORT_S);
	jsonw_key(&det->w, "vms");
	jsonw_arr_begin(&det->w);
	for (size_t i = 0; i < det->n_rvm; i++)
		stats_entry_to_json(&det->w, det->rvm[i].uuid, det->rvm[i].name, det->rvm[i].n,
				    detect_stats(det->detect, det->rvm[i].uuid), now_s);
	jsonw_arr_end(&det->w);
	jsonw_obj_end(&det->w);
	if (det->w.oom)
		det->reports_failed = true;
	else
		report_line(det, "stats", (double)now_s, &det->w);
	det->n_rvm = 0;
	det->last_rvm = 0;
}

/* Count session o of VM id for the next stats report. */
static void report_count(struct detection *det, const struct detect_vm_id *id, const struct stats_obs *o)
{
	struct report_vm *r = NULL;

	if (det->last_rvm < det->n_rvm && strcmp(det->rvm[det->last_rvm].uuid, id->uuid) == 0)
		r = &det->rvm[det->last_rvm];
	for (size_t i = 0; !r && i < det->n_rvm; i++)
		if (strcmp(det->rvm[i].uuid, id->uuid) == 0) {
			r = &det->rvm[i];
			det->last_rvm = i;
		}
	if (!r) {
		if (det->n_rvm == det->cap_rvm) {
			size_t cap = det->cap_rvm ? 2 * det->cap_rvm : 64;
			struct report_vm *nv = realloc(det->rvm, cap * sizeof(*nv));

			if (!nv) {
				det->reports_failed = true;
				return;
			}
			det->rvm = nv;
			det->cap_rvm = cap;
		}
		det->last_rvm = det->n_rvm;
		r = &det->rvm[det->n_rvm++];
		memset(r, 0, sizeof(*r));
		snprintf(r->uuid, sizeof(r->uuid), "%s", id->uuid);
		snprintf(r->name, sizeof(r->name), "%s", id->name);
	}
	r->n[SJ_ATTEMPTS]++;
	r->n[SJ_SESSIONS] += o->smtp;
	r->n[SJ_MESSAGES] += o->n_msgs;
	r->n[SJ_RCPTS] += o->rcpts;
	r->n[SJ_REJECTED] += o->replies[2];
	r->n[SJ_DEFERRED] += o->replies[1];
	r->n[SJ_USER_UNKNOWN] += o->user_unknown;
	r->n[SJ_BLOCKLIST] += o->blocklist;
}

/* Sessions go to the writer (if any) and to detection (if any). */
struct emit_ctx {
	struct output *writer;
	struct detection *det;
};


/* Load the policy and reply patterns (explicit or default paths) into det.
 * 0 or -1 with every error logged.  When !required and no file is given or
 * installed, 0 with nothing loaded (det->policy NULL). */
static int load_policies(const struct opts *o, struct detection *det, bool required)
{
	char buf[PATH_MAX + 64], buf2[PATH_MAX + 64];
	const char *pp = o->policy ? o->policy : datafile_path("default.yaml", buf, sizeof(buf));
	const char *rp = o->replies ? o->replies : datafile_path("replies.yaml", buf2, sizeof(buf2));
	struct policy_errors errs;
	int rc = 0;

	if (!pp || !rp) {
		if (!required) {
			log_warn("config: no installed policies found; detection policies not checked");
			return 0;
		}
		log_err("config: no %s found; give --policy/--replies FILE",
			!pp ? "policies/default.yaml" : "policies/replies.yaml");
		return -1;
	}
	snprintf(det->policy_path, sizeof(det->policy_path), "%s", pp);
	snprintf(det->replies_path, sizeof(det->replies_path), "%s", rp);
	det->policy = malloc(sizeof(*det->policy));
	det->replies = malloc(sizeof(*det->replies));
	if (!det->policy || !det->replies)
		return -1;
	if (policy_load_file(pp, det->policy, &errs) < 0) {
		policy_errors_log(&errs);
		rc = -1;
	}
	if (policy_load_replies_file(rp, det->replies, &errs) < 0) {
		policy_errors_log(&errs);
		rc = -1;
	}
	return rc;
}

static void on_verdict(void *ctx, const struct detect_verdict *v)
{
	struct detection *det = ctx;

	log_info("detect: verdict vm=%s name=%s verdict=%s%s duration=%u rules=%u",
		 v->vm->uuid, v->vm->name, policy_action_name(v->verdict),
		 v->observe_only && v->verdict == PA_BLOCK ? " (observe only: would block)" : "",
		 v->verdict == PA_BLOCK ? v->duration_s : 0, v->n_fired);
	if (!det->out)
		return;
	jsonw_reset(&det->w);
	verdict_to_json(v, &det->w);
	if (fwrite(det->w.buf, 1, det->w.len, det->out) != det->w.len || fputc('\n', det->out) == EOF)
		det->write_failed = true;
	if (det->reports)
		report_line(det, "verdict", (double)det->last_ts_us / 1e6, &det->w);
}

/* One finished session: attribute it to a VM and count it. */
static void detection_session(struct detection *det, const struct session *s)
{
	static struct stats_obs obs;   /* large; main is single-threaded */
	const struct detect_vm_id *id = vmmap_file_lookup(&det->vms, &s->fi);

	observe_session(s, det->replies, &obs);
	if (obs.ts_us > det->last_ts_us)
		det->last_ts_us = obs.ts_us;
	/* a stats report covers the 10 s before the session that ends after it */
	if (det->reports && det->last_ts_us / 1000000 >= det->report_s) {
		if (det->report_s)
			report_stats(det, det->report_s);
		det->report_s = (det->last_ts_us / 1000000 / STATS_REPORT_S + 1) * STATS_REPORT_S;
	}
	if (!id) {
		det->unattributed++;
	} else if (detect_observe(det->detect, id, &obs) < 0) {
		/* counted in detect_counters */
	} else if (det->reports) {
		report_count(det, id, &obs);
	}
	/* the capture clock drives expiry of blocks and alerts */
	if (det->last_ts_us / 1000000 > det->last_tick_s) {
		det->last_tick_s = det->last_ts_us / 1000000;
		detect_tick(det->detect, det->last_ts_us);
	}
}

static void emit_session(void *ctx, const struct session *s)
{
	struct emit_ctx *e = ctx;
	if (e->writer)
		output_session(e->writer, s);
	if (e->det)
		detection_session(e->det, s);
}

static void detection_fini(struct detection *det)
{
	detect_free(det->detect);
	if (det->reports && det->reports != stdout)
		fclose(det->reports);
	free(det->rvm);
	vmmap_file_fini(&det->vms);
	jsonw_fini(&det->w);
	free(det->policy);
	free(det->replies);
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
	struct detection det;
	struct emit_ctx ectx = { NULL, NULL };
	struct output_counters no_output;
	int rc = 1, r;

	memset(&det, 0, sizeof(det));
	memset(&no_output, 0, sizeof(no_output));
	jsonw_init(&det.w);

	memset(&o, 0, sizeof(o));
	session_config_default(&o.cfg);
	o.max_waiting = 1u << 22;
	if (parse_args(argc, argv, &o) < 0)
		return 1;
	if (o.remove_enforcement) {
		/* everything tapwarden installed: the table and its blocks */
		char rerr[512];
		int rr = enforce_nft_remove_all(rerr, sizeof(rerr));

		if (rr < 0) {
			log_err("enforce: cannot remove table netdev %s error=\"%s\"", NFT_TABLE, rerr);
			return 1;
		}
		printf(rr ? "removed table netdev %s\n" : "no table netdev %s: nothing to remove\n", NFT_TABLE);
		return 0;
	}
	if (o.print_filter) {
		/* what the live daemon installs on every tap (pcap-filter(7)
		 * text: tcpdump takes it as it is) */
		static char text[BPFFILTER_TEXT_MAX];

		if (bpffilter_text(o.cfg.ports, o.cfg.n_ports, BPFFILTER_GUEST_CLIENT, text, sizeof(text)) < 0) {
			log_err("config: cannot build the capture filter for these ports");
			return 1;
		}
		printf("%s\n", text);
		return 0;
	}

	if (!o.shorteners)
		o.shorteners = datafile_path("shorteners.txt", pathbuf, sizeof(pathbuf));
	if (o.shorteners) {
		if (datafile_hosts(o.shorteners, &shorteners, &n_shorteners) < 0)
			return 1;
		o.cfg.message.shorteners = (const char *const *)shorteners;
		o.cfg.message.n_shorteners = n_shorteners;
	} else {
		log_warn("config: no shortener list found; links.shortener stays 0 (use --shorteners FILE)");
	}
	/* policies: validated by -n, needed by --verdicts */
	if ((o.policy || o.replies || o.verdicts || o.check_only) &&
	    load_policies(&o, &det, o.policy || o.replies || o.verdicts) < 0)
		goto done;
	if (o.vm_map) {
		char merr[4096];
		if (vmmap_file_load(o.vm_map, &det.vms, merr, sizeof(merr)) < 0) {
			for (char *save = NULL, *line = strtok_r(merr, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				log_err("config: %s", line);
			goto done;
		}
	}
	if (o.whitelist) {
		struct whitelist wl;
		struct policy_errors errs;

		if (whitelist_load_file(o.whitelist, &wl, &errs) < 0) {
			policy_errors_log(&errs);
			goto done;
		}
		if (o.check_only)
			log_info("config: whitelist file=%s entries=%zu", o.whitelist, wl.n);
		whitelist_fini(&wl);
	}
	if (o.check_only) {
		printf("configuration OK\n");
		rc = 0;
		goto done;
	}
	if (!o.read) {
		struct daemon_config dc;
		struct report_config rcfg;
		static char password[512], host[65];
		FILE *vout = NULL;

		if (!det.policy && load_policies(&o, &det, true) < 0)
			goto done;
		if (o.verdicts) {
			vout = strcmp(o.verdicts, "-") == 0 ? stdout : fopen(o.verdicts, "a");
			if (!vout) {
				log_err("agent: cannot write verdicts file=%s error=\"%s\"", o.verdicts, strerror(errno));
				goto done;
			}
		}
		memset(&dc, 0, sizeof(dc));
		if (o.redis) {
			if (fill_report(&o, &rcfg, password, sizeof(password), host, sizeof(host)) < 0)
				goto done;
			dc.report = &rcfg;
		}
		dc.libvirt_uri = o.libvirt;
		dc.metrics_addr = o.metrics;
		dc.session = o.cfg;
		/* per tap: the defaults of the offline mode are for one big capture */
		if (!o.set_max_flows)
			dc.session.flow.max_flows = 16384;
		if (!o.set_total_buffer)
			dc.session.flow.max_total_buffer = 16u << 20;
		if (!o.set_max_parsers)
			dc.session.max_parsers = 256;
		dc.capture_buffer = o.capture_buffer ? o.capture_buffer : 4u << 20;
		dc.max_vms = o.max_vms ? o.max_vms : 4096;
		dc.policy = det.policy;
		dc.replies = det.replies;
		dc.policy_path = det.policy_path;
		dc.replies_path = det.replies_path;
		dc.whitelist_path = o.whitelist;
		dc.resync_s = o.resync_s ? o.resync_s : 300;
		dc.dry_run = o.dry_run;
		dc.verdicts = vout;
		dc.verdicts_path = o.verdicts;
		rc = daemon_run(&dc);
		if (vout && vout != stdout && fclose(vout) != 0 && rc == 0) {
			log_err("agent: closing verdicts file failed file=%s error=\"%s\"", o.verdicts, strerror(errno));
			rc = 2;
		}
		goto done;
	}

	if (o.sessions) {
		out = strcmp(o.sessions, "-") == 0 ? stdout : fopen(o.sessions, "w");
		if (!out) {
			log_err("agent: cannot write sessions file=%s error=\"%s\"", o.sessions, strerror(errno));
			goto done;
		}
		/* sessions are written in large chunks */
		setvbuf(out, NULL, _IOFBF, 1 << 20);
		writer = output_new(out, o.max_waiting, 8u << 20);
		if (!writer) {
			log_err("agent: out of memory at start");
			goto done;
		}
		ectx.writer = writer;
	}
	if (o.verdicts) {
		det.out = strcmp(o.verdicts, "-") == 0 ? stdout : fopen(o.verdicts, "w");
		if (!det.out) {
			log_err("agent: cannot write verdicts file=%s error=\"%s\"", o.verdicts, strerror(errno));
			goto done;
		}
		if (det.out == out) {
			log_err("config: --sessions and --verdicts cannot both be stdout");
			goto done;
		}
		det.detect = detect_new(o.max_vms ? o.max_vms : 4096, det.policy, on_verdict, &det);
		if (!det.detect) {
			log_err("agent: out of memory at start");
			goto done;
		}
		if (det.policy->observe_only)
			log_info("detect: observe-only policy: blocks are reported as \"would block\", never enforced");
		if (o.reports) {
			det.reports = strcmp(o.reports, "-") == 0 ? stdout : fopen(o.reports, "w");
			if (!det.reports) {
				log_err("agent: cannot write reports file=%s error=\"%s\"", o.reports, strerror(errno));
				goto done;
			}
			if (det.reports == out || det.reports == det.out) {
				log_err("config: --reports, --sessions and --verdicts cannot share stdout");
				goto done;
			}
		}
		ectx.det = &det;
	}
	t = session_tracker_new(&o.cfg, emit_session, &ectx);
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
	if (writer && output_finish(writer) < 0) {
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
	if (det.detect) {
		const struct detect_counters *dc = detect_counters(det.detect);
		detect_tick(det.detect, det.last_ts_us);
		if (det.reports) {
			report_stats(&det, det.report_s ? det.report_s : det.last_ts_us / 1000000 + 1);
			if (det.reports_failed || fflush(det.reports) != 0) {
				log_err("agent: writing reports failed file=%s", o.reports);
				rc = 2;
			}
		}
		log_info("detect: done vms=%llu unattributed_sessions=%llu vms_dropped=%llu verdicts=%llu",
			 (unsigned long long)dc->vms, (unsigned long long)det.unattributed,
			 (unsigned long long)dc->vms_dropped, (unsigned long long)dc->verdicts);
		if (det.write_failed || fflush(det.out) != 0) {
			log_err("agent: writing verdicts failed file=%s", o.verdicts);
			rc = 2;
		}
	}
	if (o.stats)
		write_stats(o.stats, &cc, t, writer ? output_counters(writer) : &no_output);
done:
	session_tracker_free(t);
	output_free(writer);
	if (out && out != stdout && fclose(out) != 0 && rc == 0) {
		log_err("agent: closing sessions file failed file=%s error=\"%s\"", o.sessions, strerror(errno));
		rc = 2;
	}
	if (out == stdout && fflush(stdout) != 0 && rc == 0)
		rc = 2;
	if (det.out && det.out != stdout && fclose(det.out) != 0 && rc == 0) {
		log_err("agent: closing verdicts file failed file=%s error=\"%s\"", o.verdicts, strerror(errno));
		rc = 2;
	}
	detection_fini(&det);
	for (size_t i = 0; i < n_shorteners; i++)
		free(shorteners[i]);
	free(shorteners);
	return rc;
}
