/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for domxml.c: live domain XML as libvirt 9 writes it (QEMU/KVM
 * with ethernet, bridge, network and direct interfaces; LXC with a bridge),
 * our <metadata> namespace in its variants, the caps, and hostile documents
 * (DOCTYPE with external or recursive entities, garbage, wrong roots).
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "domxml.h"

/* virsh dumpxml of a running QEMU/KVM guest (trimmed of disks/consoles). */
static const char qemu_xml[] =
	"<domain type='kvm' id='7'>\n"
	"  <name>cust1042-web</name>\n"
	"  <uuid>6F2C9A6E-1B1D-4D3A-9C5E-0B8F5D2C7A11</uuid>\n"
	"  <metadata>\n"
	"    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
	"      <libosinfo:os id=\"http://debian.org/debian/12\"/>\n"
	"    </libosinfo:libosinfo>\n"
	"    <tapwarden:vm xmlns:tapwarden=\"https://tapwarden.example/xmlns/1\">\n"
	"      <customer>  c-1042 </customer>\n"
	"      <plan>vps-s</plan>\n"
	"      <future>ignored</future>\n"
	"    </tapwarden:vm>\n"
	"  </metadata>\n"
	"  <memory unit='KiB'>1048576</memory>\n"
	"  <vcpu placement='static'>1</vcpu>\n"
	"  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>\n"
	"  <devices>\n"
	"    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	"    <interface type='ethernet'>\n"
	"      <mac address='52:54:00:AB:10:42'/>\n"
	"      <target dev='tap1042a' managed='no'/>\n"
	"      <model type='virtio'/>\n"
	"      <alias name='net0'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
	"    </interface>\n"
	"    <interface type='bridge'>\n"
	"      <mac address='52:54:00:ab:10:43'/>\n"
	"      <source bridge='br-cust'/>\n"
	"      <target dev='vnet12'/>\n"
	"      <model type='virtio'/>\n"
	"      <alias name='net1'/>\n"
	"    </interface>\n"
	"    <interface type='network'>\n"
	"      <mac address='52:54:00:ab:10:44'/>\n"
	"      <source network='default' portid='8d0e3e3c-4c9b-4a0e-8d7c-1f0b6b3f3a10' bridge='virbr0'/>\n"
	"      <target dev='vnet13'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"    <interface type='direct'>\n"
	"      <mac address='52:54:00:ab:10:45'/>\n"
	"      <source dev='eno1' mode='bridge'/>\n"
	"      <target dev='macvtap3'/>\n"
	"    </interface>\n"
	"    <serial type='pty'><target type='isa-serial' port='0'/></serial>\n"
	"  </devices>\n"
	"  <seclabel type='dynamic' model='apparmor' relabel='yes'/>\n"
	"</domain>\n";

/* virsh -c lxc:///system dumpxml of a running container. */
static const char lxc_xml[] =
	"<domain type='lxc' id='23154'>\n"
	"  <name>guest-b</name>\n"
	"  <uuid>0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6</uuid>\n"
	"  <metadata>\n"
	"    <tw:vm xmlns:tw=\"https://tapwarden.example/xmlns/1\">\n"
	"      <tw:customer>c-7</tw:customer><tw:plan>lxc-mini</tw:plan>\n"
	"    </tw:vm>\n"
	"  </metadata>\n"
	"  <memory unit='KiB'>65536</memory>\n"
	"  <os><type arch='x86_64'>exe</type><init>/bin/sh</init></os>\n"
	"  <devices>\n"
	"    <emulator>/usr/lib/libvirt/libvirt_lxc</emulator>\n"
	"    <interface type='bridge'>\n"
	"      <mac address='52:54:00:5f:00:02'/>\n"
	"      <source bridge='twbr0'/>\n"
	"      <ip address='198.18.0.2' family='ipv4' prefix='24'/>\n"
	"      <target dev='vnet0'/>\n"
	"      <guest dev='eth0'/>\n"
	"    </interface>\n"
	"    <console type='pty'><target type='lxc' port='0'/></console>\n"
	"  </devices>\n"
	"</domain>\n";

/* An inactive definition: no id, no targets, no metadata. */
static const char inactive_xml[] =
	"<domain type='qemu'>\n"
	"  <name>stopped</name>\n"
	"  <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
	"  <devices>\n"
	"    <interface type='ethernet'><mac address='52:54:00:00:00:01'/></interface>\n"
	"  </devices>\n"
	"</domain>\n";

static int parse(const char *s, struct domxml_domain *d)
{
	return domxml_parse(s, strlen(s), d);
}

static void test_qemu(void **state)
{
	static struct domxml_domain d;

	(void)state;
	assert_int_equal(parse(qemu_xml, &d), 0);
	assert_string_equal(d.error, "");
	assert_string_equal(d.name, "cust1042-web");
	assert_string_equal(d.uuid, "6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11");
	assert_string_equal(d.type, "kvm");
	assert_int_equal(d.id, 7);
	assert_true(d.has_meta);
	assert_false(d.meta_invalid);
	assert_string_equal(d.customer, "c-1042");
	assert_string_equal(d.plan, "vps-s");
	assert_int_equal(d.n_ifaces, 4);
	assert_int_equal(d.ifaces_dropped, 0);
	assert_int_equal(d.ifaces_invalid, 0);

	assert_string_equal(d.ifaces[0].type, "ethernet");
	assert_string_equal(d.ifaces[0].target, "tap1042a");
	assert_string_equal(d.ifaces[0].mac_str, "52:54:00:ab:10:42");
	assert_true(d.ifaces[0].has_mac);
	assert_int_equal(d.ifaces[0].mac[3], 0xab);
	assert_string_equal(d.ifaces[0].bridge, "");

	assert_string_equal(d.ifaces[1].type, "bridge");
	assert_string_equal(d.ifaces[1].bridge, "br-cust");
	assert_string_equal(d.ifaces[1].target, "vnet12");

	assert_string_equal(d.ifaces[2].type, "network");
	assert_string_equal(d.ifaces[2].network, "default");
	assert_string_equal(d.ifaces[2].bridge, "virbr0");
	assert_string_equal(d.ifaces[2].target, "vnet13");

	assert_string_equal(d.ifaces[3].type, "direct");
	assert_string_equal(d.ifaces[3].source_dev, "eno1");
	assert_string_equal(d.ifaces[3].target, "macvtap3");

	assert_ptr_equal(domxml_find_target(&d, "vnet13"), &d.ifaces[2]);
	assert_null(domxml_find_target(&d, "vnet1"));
	assert_null(domxml_find_target(&d, ""));
}

static void test_lxc_and_inactive(void **state)
{
	static struct domxml_domain d;

	(void)state;
	assert_int_equal(parse(lxc_xml, &d), 0);
	assert_string_equal(d.type, "lxc");
	assert_int_equal(d.id, 23154);
	assert_string_equal(d.customer, "c-7");      /* children in our namespace */
	assert_string_equal(d.plan, "lxc-mini");
	assert_int_equal(d.n_ifaces, 1);
	assert_string_equal(d.ifaces[0].target, "vnet0");
	assert_string_equal(d.ifaces[0].bridge, "twbr0");
	assert_string_equal(d.ifaces[0].mac_str, "52:54:00:5f:00:02");

	assert_int_equal(parse(inactive_xml, &d), 0);
	assert_int_equal(d.id, -1);
	assert_false(d.has_meta);
	assert_string_equal(d.customer, "");
	assert_int_equal(d.n_ifaces, 1);
	assert_string_equal(d.ifaces[0].target, "");
	assert_null(domxml_find_target(&d, ""));
}

#define DOM(meta, devs) \
	"<domain type='kvm' id='1'><name>n</name>" \
	"<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>" meta "<devices>" devs "</devices></domain>"

static void test_metadata_variants(void **state)
{
	static struct domxml_domain d;

	(void)state;
	/* another namespace with the same local name: ignored */
	assert_int_equal(parse(DOM("<metadata><x:vm xmlns:x='https://evil.example/'>"
				   "<customer>c-1</customer></x:vm></metadata>", ""), &d), 0);
	assert_false(d.has_meta);
	assert_string_equal(d.customer, "");
	/* default namespace declaration */
	assert_int_equal(parse(DOM("<metadata><vm xmlns='https://tapwarden.example/xmlns/1'>"
				   "<customer>c-2</customer><plan>p</plan></vm></metadata>", ""), &d), 0);
	assert_string_equal(d.customer, "c-2");
	/* children in a foreign namespace are not ours */
	assert_int_equal(parse(DOM("<metadata><t:vm xmlns:t='https://tapwarden.example/xmlns/1' "
				   "xmlns:o='urn:other'><o:customer>x</o:customer><customer>c-3"
				   "</customer></t:vm></metadata>", ""), &d), 0);
	assert_string_equal(d.customer, "c-3");
	assert_string_equal(d.plan, "");
	assert_false(d.meta_invalid);
	/* control characters, empty values, over-long values */
	assert_int_equal(parse(DOM("<metadata><t:vm xmlns:t='https://tapwarden.example/xmlns/1'>"
				   "<customer>c&#9;x</customer><plan>  </plan></t:vm></metadata>",
				   ""), &d), 0);
	assert_true(d.has_meta);
	assert_true(d.meta_invalid);
	assert_string_equal(d.customer, "");
	assert_string_equal(d.plan, "");

	char big[1024];
	char longval[DOMXML_META_MAX + 1];

	memset(longval, 'a', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	snprintf(big, sizeof(big), DOM("<metadata><t:vm xmlns:t='https://tapwarden.example/xmlns/1'>"
				       "<customer>%s</customer><plan>ok</plan></t:vm></metadata>", ""),
		 longval);
	assert_int_equal(parse(big, &d), 0);
	assert_true(d.meta_invalid);
	assert_string_equal(d.customer, "");
	assert_string_equal(d.plan, "ok");
	/* CDATA and entities are text */
	assert_int_equal(parse(DOM("<metadata><t:vm xmlns:t='https://tapwarden.example/xmlns/1'>"
				   "<customer><![CDATA[c&1]]></customer><plan>a&amp;b</plan>"
				   "</t:vm></metadata>", ""), &d), 0);
	assert_string_equal(d.customer, "c&1");
	assert_string_equal(d.plan, "a&b");
}

static void test_interface_caps(void **state)
{
	static struct domxml_domain d;
	static char xml[65536];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(xml + n, sizeof(xml) - n,
			      "<domain type='kvm'><name>many</name>"
			      "<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid><devices>");
	for (int i = 0; i < DOMXML_MAX_IFACES + 5; i++)
		n += (size_t)snprintf(xml + n, sizeof(xml) - n,
				      "<interface type='ethernet'><mac address='52:54:00:00:00:%02x'/>"
				      "<target dev='tap%d'/></interface>", i, i);
	snprintf(xml + n, sizeof(xml) - n, "</devices></domain>");
	assert_int_equal(parse(xml, &d), 0);
	assert_int_equal(d.n_ifaces, DOMXML_MAX_IFACES);
	assert_int_equal(d.ifaces_dropped, 5);
	assert_string_equal(d.ifaces[DOMXML_MAX_IFACES - 1].target, "tap31");

	/* invalid interfaces are skipped and counted, the rest is kept */
	assert_int_equal(parse(DOM("", "<interface type='ethernet'><mac address='52:54:00:zz:00:01'/>"
				   "<target dev='tapbad0'/></interface>"
				   "<interface type='ethernet'><target dev='tap-name-too-long'/></interface>"
				   "<interface type='ethernet'><target dev='../../etc'/></interface>"
				   "<interface type='ethernet'><target dev='tap x'/></interface>"
				   "<interface type='bridge'><source bridge='br-name-too-long0'/></interface>"
				   "<interface type='ethernet'><mac address='52:54:00:00:00:01'/>"
				   "<target dev='tapok0'/></interface>"), &d), 0);
	assert_int_equal(d.n_ifaces, 1);
	assert_int_equal(d.ifaces_invalid, 5);
	assert_string_equal(d.ifaces[0].target, "tapok0");
	assert_string_equal(d.ifaces[1].target, "");  /* no leftovers of rejected ones */
	/* the longest valid name */
	assert_int_equal(parse(DOM("", "<interface type='ethernet'><target dev='tap456789012345'/>"
				   "</interface>"), &d), 0);
	assert_string_equal(d.ifaces[0].target, "tap456789012345");
}

static void test_domain_errors(void **state)
{
	static struct domxml_domain d;
	static char big[DOMXML_MAX_BYTES + 64];

	(void)state;
	assert_int_equal(parse("", &d), -EBADMSG);
	assert_string_not_equal(d.error, "");
	assert_int_equal(parse("<domain><name>x</name>", &d), -EBADMSG);
	assert_string_equal(d.name, "");
	assert_int_equal(parse("\x01garbage<domain>", &d), -EBADMSG);
	assert_int_equal(parse("<network><name>default</name></network>", &d), -EINVAL);
	assert_int_equal(parse("<x:domain xmlns:x='urn:x'><name>n</name></x:domain>", &d), -EINVAL);
	assert_int_equal(parse("<domain><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid></domain>", &d),
			 -EINVAL);
	assert_int_equal(parse("<domain><name>n</name></domain>", &d), -EINVAL);
	assert_int_equal(parse("<domain><name>n</name><uuid>6f2c9a6e1b1d4d3a9c5e0b8f5d2c7a11</uuid></domain>",
			       &d), -EINVAL);
	assert_int_equal(parse("<domain><name>n</name><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a1g</uuid></domain>",
			       &d), -EINVAL);
	assert_int_equal(parse("<domain><name>a&#10;b</name><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>"
			       "</domain>", &d), -EINVAL);
	assert_string_equal(d.uuid, "");

	char name[DOMXML_NAME_MAX + 1];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(big, sizeof(big), "<domain><name>%s</name>"
		 "<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid></domain>", name);
	assert_int_equal(parse(big, &d), -ENAMETOOLONG);
	name[DOMXML_NAME_MAX - 1] = '\0';               /* 255 bytes: fits */
	snprintf(big, sizeof(big), "<domain><name>%s</name>"
		 "<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid></domain>", name);
	assert_int_equal(parse(big, &d), 0);

	memset(big, ' ', sizeof(big));
	assert_int_equal(domxml_parse(big, DOMXML_MAX_BYTES + 1, &d), -E2BIG);
	/* not NUL-terminated input: only len bytes are read */
	assert_int_equal(domxml_parse(inactive_xml, sizeof(inactive_xml) - 1, &d), 0);
	assert_int_equal(domxml_parse(inactive_xml, 40, &d), -EBADMSG);
}

static void test_hostile_dtd(void **state)
{
	static struct domxml_domain d;

	(void)state;
	/* external entity (XXE): never read, the DOCTYPE alone is refused */
	assert_int_equal(parse("<?xml version='1.0'?>\n"
			       "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>\n"
			       "<domain><name>&x;</name><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>"
			       "</domain>", &d), -EBADMSG);
	assert_string_equal(d.name, "");
	assert_int_equal(parse("<!DOCTYPE domain SYSTEM 'http://198.18.0.1/x.dtd'>"
			       "<domain><name>n</name><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>"
			       "</domain>", &d), -EBADMSG);
	/* billion laughs */
	assert_int_equal(parse("<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'>"
			       "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
			       "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
			       "<!ENTITY e '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
			       "<!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
			       "<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>]>"
			       "<domain><name>&g;&g;&g;&g;</name>"
			       "<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid></domain>", &d),
			 -EBADMSG);
	/* an undefined entity without a DTD is not well formed */
	assert_int_equal(parse("<domain><name>&x;</name><uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>"
			       "</domain>", &d), -EBADMSG);
	/* deep nesting: libxml2's default depth limit */
	static char deep[200000];
	size_t n = 0;

	n += (size_t)snprintf(deep, sizeof(deep), "<domain><name>n</name>"
			      "<uuid>6f2c9a6e-1b1d-4d3a-9c5e-0b8f5d2c7a11</uuid>");
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "<a>");
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "</a>");
	snprintf(deep + n, sizeof(deep) - n, "</domain>");
	assert_int_equal(parse(deep, &d), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu),
		cmocka_unit_test(test_lxc_and_inactive),
		cmocka_unit_test(test_metadata_variants),
		cmocka_unit_test(test_interface_caps),
		cmocka_unit_test(test_domain_errors),
		cmocka_unit_test(test_hostile_dtd),
	};

	domxml_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
