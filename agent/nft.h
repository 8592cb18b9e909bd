/* SPDX-License-Identifier: MIT */
/*
 * nft: the kernel side of enforcement, on libnftnl + libmnl (agent process,
 * the part that needs CAP_NET_ADMIN).  tapwarden owns one table, `netdev
 * tapwarden`, and never touches another:
 *
 *   set blocked { type iface_index; flags timeout; }   one element per tap of
 *                                                      a blocked VM, with the
 *                                                      block's remaining time
 *                                                      and "vm=UUID" comment
 *   set ports   { type inet_service; }                 25 (and 465, 587 ...)
 *   chain tapN  { type filter hook ingress device TAP priority -500; }
 *       meta iif @blocked meta l4proto tcp th dport @ports counter drop
 *       meta iif @blocked meta protocol 0x8100 counter drop
 *       meta iif @blocked meta protocol 0x88a8 counter drop
 *
 * N is the tap's ifindex.  Chains exist only for taps of blocked VMs, so
 * other guests' packets never meet a hook of ours.  The set element, not the
 * chain, is the block: its timeout is held by the kernel and runs out even
 * when the agent is down; a chain left behind matches nothing.  Matching on
 * the interface index (a new device gets a new index) means an element or
 * chain left from a tap that was deleted can never match the next VM that
 * gets the same name.  Why netdev ingress: it is the earliest and cheapest
 * drop and the same for bridged and routed taps (bridge and inet hooks see
 * one or the other).  The kernel moves a single VLAN tag out of the frame
 * before ingress, so a tagged SYN is matched like an untagged one; with two
 * tags nftables cannot see the TCP port, so a blocked VM's double-tagged
 * frames are dropped whole (a guest has no business sending QinQ).
 *
 * Every change goes in one netlink transaction (BEGIN ... END); every
 * message asks for an ACK, every reply is read and matched to its message
 * by sequence number, and the kernel's extended ACK text is reported with
 * the label of the message it refused.  A transaction either applies
 * entirely or not at all.
 */
#ifndef TAPWARDEN_NFT_H
#define TAPWARDEN_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFT_TABLE      "tapwarden"
#define NFT_MAX_PORTS  16
#define NFT_COMMENT_MAX 128
#define NFT_ERR_MAX    512

struct nft;
struct nft_batch;

/* Open the request socket and the notification socket (group
 * NFNLGRP_NFTABLES).  0 and *out (owned, nft_close), or a negative errno
 * with a message in err. */
int nft_open(struct nft **out, char *err, size_t cap);
void nft_close(struct nft *n);
/* Readable when the kernel reports ruleset changes (nft_monitor_read). */
int nft_monitor_fd(const struct nft *n);
/*
 * Read every waiting notification.  Returns 1 when some process other than
 * this one committed a change to nftables since the last call (or
 * notifications were lost: ENOBUFS), 0 when none did, a negative errno on
 * a socket error.  Never blocks.
 */
int nft_monitor_read(struct nft *n);

/* A transaction being built: messages are appended in order.  Each op
 * takes a label (borrowed, copied) that names the object in error
 * reports.  Ops return 0 or -ENOMEM. */
struct nft_batch *nft_batch_new(struct nft *n);
void nft_batch_free(struct nft_batch *b);
size_t nft_batch_count(const struct nft_batch *b);   /* messages so far */
/* The table and both sets (created when missing, kept when present), and
 * the ports set's elements (added; existing ones stay). */
int nft_batch_table(struct nft_batch *b, const uint16_t *ports, size_t n_ports);
int nft_batch_delete_table(struct nft_batch *b);
/* Chain tap<ifindex> on device ifname with its three rules; an existing
 * chain of that name is flushed first, so the rules are never doubled. */
int nft_batch_tap_chain(struct nft_batch *b, uint32_t ifindex, const char *ifname);
int nft_batch_delete_tap_chain(struct nft_batch *b, uint32_t ifindex);
/* Element ifindex in @blocked with timeout_ms (>= 1) and comment. */
int nft_batch_block(struct nft_batch *b, uint32_t ifindex, uint64_t timeout_ms,
		    const char *comment);
int nft_batch_unblock(struct nft_batch *b, uint32_t ifindex);

/*
 * Send the transaction and read every reply.  0 when the kernel applied
 * it; otherwise a negative errno (the kernel's, of the first message it
 * refused: nothing was applied) with "LABEL: strerror: extack text" in err
 * and that message's index (0-based, in the order of the ops) in *bad
 * (SIZE_MAX when no message was named; bad may be NULL).
 * -EMSGSIZE when the transaction does not fit in one netlink message even
 * with the largest socket buffer: the caller splits it.  -ENOBUFS when
 * replies were lost: the caller must re-read the kernel's state.
 */
int nft_batch_commit(struct nft_batch *b, size_t *bad, char *err, size_t cap);

/* One element of @blocked as the kernel holds it. */
struct nft_block {
	uint32_t ifindex;
	uint64_t timeout_ms;         /* as added */
	uint64_t expires_ms;         /* remaining */
	char comment[NFT_COMMENT_MAX];
};
/* One tap chain and the packets its rules dropped. */
struct nft_chain {
	uint32_t ifindex;
	uint64_t dropped;            /* packets, all three rules */
};

/*
 * Dump @blocked: *out owned (free), *n elements.  Returns 0, -ENOENT when
 * the table or the set does not exist, or another negative errno.
 */
int nft_dump_blocks(struct nft *n, struct nft_block **out, size_t *count);
/* Dump the tap chains of the table with their counters; same returns. */
int nft_dump_chains(struct nft *n, struct nft_chain **out, size_t *count);
/* Does the table exist with both sets?  1, 0, or a negative errno. */
int nft_table_present(struct nft *n);

#endif
