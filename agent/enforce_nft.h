/* SPDX-License-Identifier: MIT */
/*
 * enforce_nft: the nftables backend of enforce (agent process, needs
 * CAP_NET_ADMIN).  See nft.h for the ruleset it keeps.
 */
#ifndef TAPWARDEN_ENFORCE_NFT_H
#define TAPWARDEN_ENFORCE_NFT_H

#include "enforce.h"
#include "nft.h"

struct enforce_nft;

/* Open netlink; NULL with a message in err. */
struct enforce_nft *enforce_nft_new(const uint16_t *ports, size_t n_ports, char *err, size_t cap);
/* Borrowed, valid while x lives. */
const struct enforce_backend *enforce_nft_backend(struct enforce_nft *x);
struct nft *enforce_nft_handle(struct enforce_nft *x);
/* Tap chains and their drop counters (owned by the caller: free). */
int enforce_nft_counters(struct enforce_nft *x, struct nft_chain **out, size_t *n);
void enforce_nft_free(struct enforce_nft *x);
/* Delete table netdev tapwarden and everything in it (--remove-enforcement).
 * 1 when removed, 0 when there was none, or a negative errno (err). */
int enforce_nft_remove_all(char *err, size_t cap);

#endif
