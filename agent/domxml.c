/* SPDX-License-Identifier: MIT */
/*
 * domxml: libvirt domain XML -> struct domxml_domain.  Runs in the agent
 * (vmmap, on libvirt's event thread and at sync).  The XML comes from
 * libvirtd, not from guests, but a domain definition can carry strings a
 * customer chose (name, metadata set by a self-service panel), so the
 * parser is hardened like any other input: size cap before parsing, no
 * network, no DTD (refused outright, so no entity of any kind is ever
 * expanded or loaded), libxml2's default depth/size limits (no
 * XML_PARSE_HUGE), and every kept string copied into a fixed buffer.
 * libxml2's error reports are captured per parser context instead of going
 * to stderr.
 */
#include "bus.h"
#include "domxml.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

static pthread_once_t domxml_once = PTHREAD_ONCE_INIT;

static void domxml_init_once(void)
{
	xmlInitParser();
}

void domxml_init(void)
{
	pthread_once(&domxml_once, domxml_init_once);
}

/* libxml2 would print to stderr; the caller gets xmlCtxtGetLastError(). */
static void silent_error(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/* Encoding errors bypass the context's handler and go to the calling
 * thread's generic handler (thread-local in libxml2). */
static void silent_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void set_error(struct domxml_domain *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct domxml_domain *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
}

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns == NULL &&
	       strcmp((const char *)n->name, name) == 0;
}

/*
 * Copy the text content of a node list (text and CDATA children only, one
 * level: libvirt's leaf elements and attributes have nothing else) into
 * buf.  Returns 0, or -ENAMETOOLONG when it does not fit (buf is then "").
 */
static int copy_text(const xmlNode *child, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (; child != NULL; child = child->next) {
		if (child->type != XML_TEXT_NODE && child->type != XML_CDATA_SECTION_NODE)
			continue;
		if (child->content == NULL)
			continue;
		size_t n = strlen((const char *)child->content);

		if (n >= cap - len) {
			buf[0] = '\0';
			return -ENAMETOOLONG;
		}
		memcpy(buf + len, child->content, n);
		len += n;
		buf[len] = '\0';
	}
	return 0;
}

/* Attribute name (no namespace) of n: 1 when absent (buf ""), else as
 * copy_text. */
static int copy_attr(const xmlNode *n, const char *name, char *buf, size_t cap)
{
	const xmlAttr *a = xmlHasNsProp(n, (const xmlChar *)name, NULL);

	buf[0] = '\0';
	if (a == NULL || a->type != XML_ATTRIBUTE_NODE)
		return 1;
	return copy_text(a->children, buf, cap);
}

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i);
	s[n - i] = '\0';
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}


static bool mac_parse(const char *s, uint8_t mac[6], char canon[18])
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval((unsigned char)s[3 * i]), lo = hexval((unsigned char)s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	snprintf(canon, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return true;
}

/* Linux's dev_valid_name(): what may safely become a capture device or an
 * nftables iifname. */
static bool ifname_ok(const char *s)
{
	if (s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) ||
		    (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Fill *ifc from an <interface>; false when a field is invalid. */
static bool parse_iface(const xmlNode *n, struct domxml_iface *ifc)
{
	char mac[32];
	bool have_target = false, have_mac = false, have_source = false;

	memset(ifc, 0, sizeof(*ifc));
	if (copy_attr(n, "type", ifc->type, sizeof(ifc->type)) < 0)
		return false;
	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (is_elem(c, "target") && !have_target) {
			have_target = true;
			if (copy_attr(c, "dev", ifc->target, sizeof(ifc->target)) < 0)
				return false;
			if (ifc->target[0] != '\0' && !ifname_ok(ifc->target))
				return false;
		} else if (is_elem(c, "mac") && !have_mac) {
			have_mac = true;
			if (copy_attr(c, "address", mac, sizeof(mac)) != 0 ||
			    !mac_parse(mac, ifc->mac, ifc->mac_str))
				return false;
			ifc->has_mac = true;
		} else if (is_elem(c, "source") && !have_source) {
			have_source = true;
			if (copy_attr(c, "bridge", ifc->bridge, sizeof(ifc->bridge)) < 0 ||
			    copy_attr(c, "network", ifc->network, sizeof(ifc->network)) < 0 ||
			    copy_attr(c, "dev", ifc->source_dev, sizeof(ifc->source_dev)) < 0)
				return false;
			if (has_ctl(ifc->bridge) || has_ctl(ifc->network) || has_ctl(ifc->source_dev))
				return false;
		}
	}
	return !has_ctl(ifc->type);
}

/* One of customer/plan: trimmed, non-empty, no control characters. */
static void meta_value(const xmlNode *c, char *buf, size_t cap, struct domxml_domain *out)
{
	if (copy_text(c->children, buf, cap) < 0) {
		out->meta_invalid = true;
		return;
	}
	trim(buf);
	if (buf[0] == '\0' || has_ctl(buf)) {
		buf[0] = '\0';
		out->meta_invalid = true;
	}
}

static void parse_metadata(const xmlNode *md, struct domxml_domain *out)
{
	const xmlNode *vm = NULL;

	for (const xmlNode *c = md->children; c != NULL; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && c->ns != NULL && c->ns->href != NULL &&
		    strcmp((const char *)c->ns->href, DOMXML_NS) == 0 &&
		    strcmp((const char *)c->name, "vm") == 0) {
			vm = c;
			break;
		}
	}
	if (vm == NULL)
		return;
	out->has_meta = true;
	bool seen_customer = false, seen_plan = false;

	for (const xmlNode *c = vm->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (c->ns != NULL && (c->ns->href == NULL ||
				      strcmp((const char *)c->ns->href, DOMXML_NS) != 0))
			continue;
		if (strcmp((const char *)c->name, "customer") == 0 && !seen_customer) {
			seen_customer = true;
			meta_value(c, out->customer, sizeof(out->customer), out);
		} else if (strcmp((const char *)c->name, "plan") == 0 && !seen_plan) {
			seen_plan = true;
			meta_value(c, out->plan, sizeof(out->plan), out);
		}
	}
}

static void parse_devices(const xmlNode *devs, struct domxml_domain *out)
{
	for (const xmlNode *c = devs->children; c != NULL; c = c->next) {
		if (!is_elem(c, "interface"))
			continue;
		if (out->n_ifaces == DOMXML_MAX_IFACES) {
			out->ifaces_dropped++;
			continue;
		}
		if (parse_iface(c, &out->ifaces[out->n_ifaces]))
			out->n_ifaces++;
		else
			out->ifaces_invalid++;
	}
	/* the rejected slot may hold partial data */
	if (out->n_ifaces < DOMXML_MAX_IFACES)
		memset(&out->ifaces[out->n_ifaces], 0, sizeof(out->ifaces[0]));
}

static int parse_root(const xmlNode *root, struct domxml_domain *out)
{
	char idbuf[24];
	bool have_name = false, have_uuid = false, have_meta = false, have_devs = false;
	int r;

	if (root == NULL || !is_elem(root, "domain")) {
		set_error(out, "root element is not <domain>");
		return -EINVAL;
	}
	if (copy_attr(root, "type", out->type, sizeof(out->type)) < 0 || has_ctl(out->type))
		out->type[0] = '\0';
	out->id = -1;
	if (copy_attr(root, "id", idbuf, sizeof(idbuf)) == 0) {
		char *end;
		long v;

		errno = 0;
		v = strtol(idbuf, &end, 10);
		if (errno == 0 && end != idbuf && *end == '\0' && v >= 0)
			out->id = v;
	}
	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		if (is_elem(c, "name") && !have_name) {
			have_name = true;
			r = copy_text(c->children, out->name, sizeof(out->name));
			if (r < 0) {
				set_error(out, "<name> longer than %d bytes", DOMXML_NAME_MAX - 1);
				return r;
			}
		} else if (is_elem(c, "uuid") && !have_uuid) {
			char u[64];

			have_uuid = true;
			if (copy_text(c->children, u, sizeof(u)) < 0) {
				set_error(out, "<uuid> malformed");
				return -EINVAL;
			}
			trim(u);
			if (!bus_uuid_norm(u, u)) {
				set_error(out, "<uuid> malformed");
				return -EINVAL;
			}
			memcpy(out->uuid, u, DOMXML_UUID_LEN);
		} else if (is_elem(c, "metadata") && !have_meta) {
			have_meta = true;
			parse_metadata(c, out);
		} else if (is_elem(c, "devices") && !have_devs) {
			have_devs = true;
			parse_devices(c, out);
		}
	}
	if (out->name[0] == '\0' || has_ctl(out->name)) {
		set_error(out, "<name> missing, empty or with control characters");
		return -EINVAL;
	}
	if (!have_uuid) {
		set_error(out, "<uuid> missing");
		return -EINVAL;
	}
	return 0;
}

int domxml_parse(const char *xml, size_t len, struct domxml_domain *out)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	out->id = -1;
	if (len > DOMXML_MAX_BYTES) {
		set_error(out, "document larger than %d bytes", DOMXML_MAX_BYTES);
		return -E2BIG;
	}
	domxml_init();
	xmlSetGenericErrorFunc(NULL, silent_generic);
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		set_error(out, "out of memory");
		return -ENOMEM;
	}
	ctxt->sax->serror = silent_error;
	/* No XML_PARSE_NOENT (it would substitute entities), no DTDLOAD/DTDATTR,
	 * no HUGE: libxml2's default limits stay on. */
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);

		set_error(out, "not well-formed XML (line %d: %.40s)", e ? e->line : 0,
			  e && e->message ? e->message : "?");
		/* libxml2's messages end in a newline */
		out->error[strcspn(out->error, "\n")] = '\0';
		r = -EBADMSG;
		goto fail;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		set_error(out, "document has a DOCTYPE");
		r = -EBADMSG;
		goto fail;
	}
	r = parse_root(xmlDocGetRootElement(doc), out);
	if (r < 0)
		goto fail;
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return 0;
fail:
	{
		char err[DOMXML_ERROR_MAX];

		memcpy(err, out->error, sizeof(err));
		memset(out, 0, sizeof(*out));
		memcpy(out->error, err, sizeof(err));
		out->id = -1;
	}
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return r;
}

const struct domxml_iface *domxml_find_target(const struct domxml_domain *d,
					      const char *ifname)
{
	if (ifname == NULL || ifname[0] == '\0')
		return NULL;
	for (size_t i = 0; i < d->n_ifaces; i++)
		if (strcmp(d->ifaces[i].target, ifname) == 0)
			return &d->ifaces[i];
	return NULL;
}
