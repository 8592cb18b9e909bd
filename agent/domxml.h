/* SPDX-License-Identifier: MIT */
/*
 * domxml: parse a libvirt domain XML document (virDomainGetXMLDesc) into a
 * fixed-size struct: the domain's name, UUID, runtime id and type, each
 * <interface> (type, target dev = the host tap, MAC, bridge / network /
 * direct source), and the hoster's own IDs from <metadata>.  Pure code
 * (libxml2 on a memory buffer, no network, no files, no DTD, no entity
 * expansion); used by vmmap in the agent.
 *
 * Hoster metadata: one element in tapwarden's namespace inside <metadata>,
 *
 *   <metadata>
 *     <tw:vm xmlns:tw="https://tapwarden.example/xmlns/1">
 *       <customer>c-1042</customer>
 *       <plan>vps-s</plan>
 *     </tw:vm>
 *   </metadata>
 *
 * The prefix is free; the namespace URI (DOMXML_NS) and the local name "vm"
 * are what count.  <customer> and <plan> are read whether they are
 * unqualified (what `virsh metadata DOM https://tapwarden.example/xmlns/1
 * --key tw --set '<vm><customer>c-1042</customer><plan>vps-s</plan></vm>'`
 * stores) or in the same namespace; other children and other metadata
 * elements are ignored.  Values are trimmed of surrounding white space and
 * must be 1..DOMXML_META_MAX-1 bytes without control characters, else the
 * field is left empty and meta_invalid is set.
 */
#ifndef TAPWARDEN_DOMXML_H
#define TAPWARDEN_DOMXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOMXML_NS "https://tapwarden.example/xmlns/1"

#define DOMXML_MAX_BYTES   (1024 * 1024) /* larger documents are refused */
#define DOMXML_MAX_IFACES  32     /* further <interface>s are counted, not kept */
#define DOMXML_NAME_MAX    256    /* domain name, bytes incl. NUL */
#define DOMXML_UUID_LEN    37     /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
#define DOMXML_IFNAME_MAX  16     /* IFNAMSIZ */
#define DOMXML_TYPE_MAX    16     /* "ethernet", "bridge", "kvm", ... */
#define DOMXML_SOURCE_MAX  64     /* network name */
#define DOMXML_META_MAX    128    /* customer, plan */
#define DOMXML_ERROR_MAX   96

struct domxml_iface {
	char type[DOMXML_TYPE_MAX];       /* interface type attribute, "" if absent */
	char target[DOMXML_IFNAME_MAX];   /* <target dev>: the host-side tap; "" when
					     the domain is not running */
	char mac_str[18];                 /* lower case "52:54:00:12:34:56", "" if absent */
	uint8_t mac[6];
	bool has_mac;
	char bridge[DOMXML_IFNAME_MAX];   /* <source bridge> (also on live type='network') */
	char network[DOMXML_SOURCE_MAX];  /* <source network> */
	char source_dev[DOMXML_IFNAME_MAX]; /* <source dev> (type='direct': macvtap lower dev) */
};

struct domxml_domain {
	char name[DOMXML_NAME_MAX];
	char uuid[DOMXML_UUID_LEN];       /* canonical lower case */
	char type[DOMXML_TYPE_MAX];       /* <domain type>: kvm, qemu, lxc, test, ... */
	long id;                          /* <domain id>: runtime id, -1 when inactive */
	struct domxml_iface ifaces[DOMXML_MAX_IFACES];
	size_t n_ifaces;
	size_t ifaces_dropped;            /* beyond DOMXML_MAX_IFACES */
	size_t ifaces_invalid;            /* bad MAC, over-long target/source: skipped */
	char customer[DOMXML_META_MAX];   /* "" when absent */
	char plan[DOMXML_META_MAX];
	bool has_meta;                    /* our <vm> element was present */
	bool meta_invalid;                /* a value was over-long or had control chars */
	char error[DOMXML_ERROR_MAX];     /* why domxml_parse failed, else "" */
};

/* Initialise libxml2 once (thread safe, idempotent).  domxml_parse calls it;
 * call it early from the main thread so that libxml2's globals are set up
 * before other threads parse. */
void domxml_init(void);

/*
 * Parse len bytes of XML (borrowed; need not be NUL-terminated) into *out
 * (caller's storage, fully overwritten).  Returns 0; -E2BIG for more than
 * DOMXML_MAX_BYTES; -EBADMSG for XML that is not well formed or has a
 * DOCTYPE (libvirt never writes one; refusing it rules out entity tricks);
 * -EINVAL when the root is not <domain> or the name or UUID is missing or
 * malformed; -ENAMETOOLONG for a name of DOMXML_NAME_MAX bytes or more;
 * -ENOMEM.  On failure out->error says what and the other fields are empty.
 * Per-interface problems do not fail the domain: see ifaces_invalid.
 */
int domxml_parse(const char *xml, size_t len, struct domxml_domain *out);

/* The interface whose target is ifname, or NULL (borrowed from d). */
const struct domxml_iface *domxml_find_target(const struct domxml_domain *d,
					      const char *ifname);

#endif
