/* SPDX-License-Identifier: MIT */
/*
 * vmmap_file: the offline VM attribution of --vm-map: a JSON object from a
 * guest IP address (or MAC) to its VM {"uuid", "name", "plan",
 * "whitelisted"}.  Sessions are attributed by their client address.  The
 * live daemon attributes by tap and MAC through libvirt instead (vmmap.c).
 * Parsing a buffer is pure; vmmap_file_load() adds reading the file.
 */
#ifndef TAPWARDEN_VMMAP_FILE_H
#define TAPWARDEN_VMMAP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "flow.h"

#define VMMAP_FILE_MAX 65536

struct vmmap_file_entry {
	uint8_t kind;                /* 4, 6, or 'm' (MAC) */
	uint8_t addr[16];            /* IPv4 in the first 4 bytes; MAC in the first 6 */
	struct detect_vm_id id;
};

struct vmmap_file {
	struct vmmap_file_entry *e;
	size_t n;
};

/* Parse buf (borrowed).  name labels errors, which go to err (cap bytes,
 * every error found, one per line).  0 or -EINVAL/-ENOMEM; on success *m
 * owns its entries (vmmap_file_fini). */
int vmmap_file_parse(const char *name, const char *buf, size_t len, struct vmmap_file *m,
		     char *err, size_t cap);
int vmmap_file_load(const char *path, struct vmmap_file *m, char *err, size_t cap);
/* The VM of a flow's client: by its MAC when the map has that MAC (a MAC
 * names the guest even when it changes its address), else by its IP
 * address; NULL when neither is in the map. */
const struct detect_vm_id *vmmap_file_lookup(const struct vmmap_file *m, const struct flow_info *fi);
void vmmap_file_fini(struct vmmap_file *m);

#endif
