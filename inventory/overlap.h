/*
 * Servers that would write the same files: two inventory entries for one
 * root (or one host's certificate store) pass every other check and then
 * overwrite each other's certificates on every run.
 */
#ifndef CF_OVERLAP_H
#define CF_OVERLAP_H

#include "inventory/diag.h"
#include "inventory/fleet.h"

/*
 * Records a diagnostic at each server whose certificate store (store.certs)
 * or usage_bindings cert or key file is, or lies inside, a path an earlier
 * server writes on the same host, naming that server's FILE:LINE. Trust
 * stores and webroots may be shared. Local roots are resolved with
 * realpath(3) as far as they exist; nothing is written.
 */
void overlap_check(const struct fleet *f, struct diags *d);

#endif
