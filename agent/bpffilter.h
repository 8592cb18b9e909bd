/* SPDX-License-Identifier: MIT */
/*
 * bpffilter: the text of the capture filter the live agent installs on each
 * guest tap, built from the template bpf/capture.filter and the watched
 * ports.  The template is embedded in the binary at build time (assembler
 * .incbin, see bpffilter.c), so the agent needs no data file at run time and
 * a capture process without filesystem access can still build its filter;
 * the template language (comments, @define blocks, @PORTS@, @TCPPORTS@,
 * @PORTAT(e)@) is
 * documented at the top of bpf/capture.filter.  Pure code: the caller
 * compiles the text with pcap_compile() on its live handle (on Linux that
 * handle knows about the kernel's VLAN offload; a dead handle does not).
 */
#ifndef TAPWARDEN_BPFFILTER_H
#define TAPWARDEN_BPFFILTER_H

#include <stddef.h>
#include <stdint.h>

#define BPFFILTER_MAX_PORTS 16      /* compiled program stays < 4096 insns */
#define BPFFILTER_MAX_DEFINES 8     /* @define blocks in a template */
#define BPFFILTER_MAX_DEPTH 4       /* nesting of @NAME@ inside blocks */
#define BPFFILTER_TEXT_MAX 65536    /* a buffer this large always suffices for
				       the embedded template and 16 ports */

/*
 * Which frames of a watched port the filter keeps.  ANY_DIRECTION: TCP to
 * or from a watched port (captures of a link, offline analysis).
 * GUEST_CLIENT, for a live handle on the host's side of a guest tap: only
 * connections the guest opened, i.e. frames the guest sent (inbound to the
 * host) to a watched destination port and frames sent to the guest
 * (outbound) from a watched source port.  The direction is the kernel's
 * packet type (libpcap's inbound/outbound), not an address the guest could
 * forge, so mail a guest receives (an MX) is never counted as mail it sent
 * and mail between two guests is counted once, on the sender's tap.  Only
 * a live Linux handle can evaluate it.
 */
enum bpffilter_dir {
	BPFFILTER_ANY_DIRECTION,
	BPFFILTER_GUEST_CLIENT,
};

/* The embedded template (bpf/capture.filter as built), NUL-terminated;
 * static storage, never freed. */
const char *bpffilter_template(void);

/*
 * Expand template tmpl (borrowed, NUL-terminated) for nports watched ports
 * (1..BPFFILTER_MAX_PORTS, each 1..65535) and direction dir into buf (cap bytes) as one line
 * of pcap-filter(7) text, NUL-terminated.  Returns 0, -EINVAL for bad ports
 * or a malformed template (unknown or unterminated placeholder, unbalanced
 * @define/@end, too deep), or -ENOSPC when cap is too small (buf then holds
 * an empty string).
 */
int bpffilter_expand(const char *tmpl, const uint16_t *ports, size_t nports,
		     enum bpffilter_dir dir, char *buf, size_t cap);

/* bpffilter_expand() of the embedded template. */
int bpffilter_text(const uint16_t *ports, size_t nports, enum bpffilter_dir dir,
		   char *buf, size_t cap);

#endif
