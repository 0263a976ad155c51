/*
 * Batches and brake of a staged rollout. A percentage of servers rounds
 * down, as Ansible's serial does, but a batch holds at least one server.
 */
#include "engine/rollout/rollout.h"
#include "engine/base/err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rollout_amount_parse(const char *s, struct rollout_amount *out,
    char *msg, size_t msgsz)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return cf_error(msg, msgsz, CF_EINVAL, "'%s' is not a number "
		    "or a percentage (like 3 or 25%%)", s ? s : "");
	errno = 0;
	v = strtol(s, &end, 10);
	out->percent = *end == '%';
	if (out->percent)
		end++;
	if (errno != 0 || *end != '\0' || v > INT_MAX ||
	    (out->percent && v > 100))
		return cf_error(msg, msgsz, CF_EINVAL, "'%s' is not a number "
		    "or a percentage (like 3 or 25%%)", s);
	out->value = (int)v;
	return 0;
}

void rollout_amount_format(struct rollout_amount a, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%d%s", a.value, a.percent ? "%" : "");
}

void rollout_plan_init(struct rollout_plan *p)
{
	memset(p, 0, sizeof *p);
}

void rollout_plan_release(struct rollout_plan *p)
{
	free(p->order);
	free(p->start);
	rollout_plan_init(p);
}

/* Servers per batch for ndue servers due: 0 (one batch of all) when no
 * batch was set. */
static size_t batch_size(struct rollout_amount a, size_t ndue)
{
	size_t n;

	if (a.value == 0)
		return ndue;
	n = a.percent ? ndue * (size_t)a.value / 100 : (size_t)a.value;
	return n < 1 ? 1 : n;
}

int rollout_plan_make(const struct rollout_policy *policy,
    const size_t *due, size_t ndue, const bool *is_canary,
    struct rollout_plan *out)
{
	size_t i, n = 0, b = 0, per, ncanary = 0, in_batch = 0;

	rollout_plan_init(out);
	out->order = calloc(ndue ? ndue : 1, sizeof *out->order);
	out->start = calloc(ndue + 2, sizeof *out->start);
	if (out->order == NULL || out->start == NULL) {
		rollout_plan_release(out);
		return CF_ENOMEM;
	}
	for (i = 0; i < ndue; i++)
		if (is_canary != NULL && is_canary[due[i]])
			out->order[n++] = due[i];
	ncanary = n;
	if (ncanary > 0) {
		out->canary = true;
		out->start[++b] = n;
	}
	per = batch_size(policy->batch, ndue);
	for (i = 0; i < ndue; i++) {
		if (is_canary != NULL && is_canary[due[i]])
			continue;
		out->order[n++] = due[i];
		if (++in_batch == per) {
			out->start[++b] = n;
			in_batch = 0;
		}
	}
	if (in_batch > 0)
		out->start[++b] = n;
	out->nbatches = b;
	return 0;
}

size_t rollout_batch_size(const struct rollout_plan *p, size_t b)
{
	return b < p->nbatches ? p->start[b + 1] - p->start[b] : 0;
}

bool rollout_brake_tripped(struct rollout_amount max_failures, size_t total,
    size_t failures, bool in_canary)
{
	if (failures == 0)
		return false;
	if (in_canary)
		return true;
	if (max_failures.percent)
		return failures * 100 > (size_t)max_failures.value * total;
	return failures > (size_t)max_failures.value;
}
