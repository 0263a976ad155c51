/*
 * Inspect: is a server up to date? The decision only, from what the server
 * holds for each usage; reading those files is the transport's job.
 */
#ifndef CF_INSPECT_H
#define CF_INSPECT_H

#include "engine/base/renew.h"
#include "engine/base/reqspec.h"
#include "engine/base/usage.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct inspect_result {
	bool due;                   /* a run must request a certificate */
	char reason[256];           /* why due, for the report and journal */
	char thumbprint[41];        /* of the current certificate, "" when none */
	char sha256[65];
	time_t not_after;           /* 0 when none */
};

/*
 * Decides from current[u], the PEM each usage in usages holds now (NULL
 * when none), whether the server is due: up to date when every usage holds
 * the same certificate, not yet due under rp (renew_due_at), with the
 * SANs of spec. force makes every server due. Fills out; returns 0.
 */
int inspect_decide(const struct usage_table *utab,
    const char *const current[USAGE_CAP], unsigned usages,
    const struct req_spec *spec, const struct renew_policy *rp, time_t now,
    bool force, struct inspect_result *out);

#endif
