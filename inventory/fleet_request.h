/*
 * What depends on a server and the request template together: the
 * template expanded with the server's variables, checked for every server
 * before a run, each mistake reported once, at the template line to edit.
 */
#ifndef CF_FLEET_REQUEST_H
#define CF_FLEET_REQUEST_H

#include "inventory/diag.h"
#include "inventory/fleet.h"

/*
 * Expands the template for every server whose own entry is clean and
 * checks the result (variables, subject, SANs; what an ACME CA can
 * certify; the EKUs each usage needs). A mistake is recorded once at the
 * template's FILE:LINE, followed by the first servers that hit it and how
 * many more: one message for 300 servers sharing one template.
 */
void fleet_check_requests(const struct fleet *f, struct diags *d);

#endif
