/*
 * The staged rollout's arithmetic, apart from any I/O: the batches a run
 * assigns in (the canary first, then the rest in inventory order) and the
 * brake that stops it once failures exceed what was allowed (Ansible's
 * serial and max_fail_percentage rules). The engine asks; this decides.
 */
#ifndef CF_ROLLOUT_H
#define CF_ROLLOUT_H

#include "engine/base/usage.h"

#include <stdbool.h>
#include <stddef.h>

/* A served-certificate check after assignment: usage's certificate must be
 * what the server presents on port (engine/rollout/verify.h). */
struct rollout_verify {
	unsigned usage;             /* index in the fleet's usage table */
	int port;
};

/* A count given as a number ("3") or as a percentage ("25%"). */
struct rollout_amount {
	int value;
	bool percent;
};

/* Parses "N" or "P%" (0 <= N; 0 <= P <= 100). Returns 0, or CF_EINVAL with
 * msg naming what was wrong. */
int rollout_amount_parse(const char *s, struct rollout_amount *out,
    char *msg, size_t msgsz);

/* Writes a in the form it was given ("3", "25%"). */
void rollout_amount_format(struct rollout_amount a, char *buf, size_t bufsz);

/* How the run assigns. A zero batch means one batch of every server. */
struct rollout_policy {
	struct rollout_amount batch;
	struct rollout_amount max_failures;
	int pause_s;                /* between batches */
};

/*
 * The batches of one run: batch b holds the target indices
 * order[start[b]] .. order[start[b + 1] - 1]. With a canary, batch 0 is it.
 */
struct rollout_plan {
	size_t *order;
	size_t *start;              /* nbatches + 1 entries */
	size_t nbatches;
	bool canary;                /* batch 0 is the canary batch */
};

void rollout_plan_init(struct rollout_plan *p);
void rollout_plan_release(struct rollout_plan *p);

/*
 * Plans the batches of the servers due for assignment: due[0..ndue-1] are
 * target indices in inventory order, is_canary (indexed by target index,
 * may be NULL) marks the canary servers. The canary servers that are due
 * form batch 0; the others follow in batches of policy->batch (a
 * percentage of ndue, at least 1). Returns 0 or CF_ENOMEM.
 */
int rollout_plan_make(const struct rollout_policy *policy,
    const size_t *due, size_t ndue, const bool *is_canary,
    struct rollout_plan *out);

/* The number of servers in batch b. */
size_t rollout_batch_size(const struct rollout_plan *p, size_t b);

/*
 * The brake: true once failures exceed max_failures of total servers due
 * (for a percentage: failures * 100 > percent * total), or, when in_canary,
 * as soon as any failed.
 */
bool rollout_brake_tripped(struct rollout_amount max_failures, size_t total,
    size_t failures, bool in_canary);

#endif
