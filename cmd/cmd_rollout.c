/*
 * The run's staged rollout, from the fleet file's rollout group and the
 * command line (--batch, --max-failures, --canary, --no-verify): what the
 * engine is told, and for plan, the batches a run would assign in. A
 * fleet without a rollout group and no such option assigns as before: one
 * batch, no verification.
 */
#include "cmd/cmd_rollout.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmd_rollout_release(struct cmd_rollout *cr)
{
	free(cr->canary);
	memset(cr, 0, sizeof *cr);
}

/* True when pattern names a server or group anywhere in the fleet. */
static bool in_fleet(const struct fleet *f, const char *pattern)
{
	size_t i;

	for (i = 0; i < f->nservers; i++)
		if (server_matches(&f->servers[i], pattern))
			return true;
	return false;
}

/* --canary LIST: a comma list of server names, group names and globs.
 * With --shard, each shard runs the canaries it holds: a pattern that
 * names only other shards' servers is no mistake there. */
static int canary_from_option(struct cmd_rollout *cr, const char *list,
    const struct fleet *f, bool sharded, const struct server *const *servers,
    size_t n, char *msg, size_t msgsz)
{
	char *copy = strdup(list), *tok, *save = NULL;
	bool hit;
	size_t i;
	int rc = 0;

	if (copy == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
	    tok = strtok_r(NULL, ",", &save)) {
		hit = false;
		for (i = 0; i < n; i++)
			if (server_matches(servers[i], tok))
				hit = cr->canary[i] = true;
		if (!hit && !(sharded && in_fleet(f, tok)))
			rc = cf_error(msg, msgsz, CF_ENOENT, "--canary '%s' "
			    "names no server or group chosen", tok);
	}
	free(copy);
	return rc;
}

static int amount_option(const char *opt, const char *value,
    struct rollout_amount *out, char *msg, size_t msgsz)
{
	char why[128];

	if (rollout_amount_parse(value, out, why, sizeof why) != 0)
		return cf_error(msg, msgsz, CF_EINVAL, "%s: %s", opt, why);
	if (strcmp(opt, "--batch") == 0 && out->value == 0)
		return cf_error(msg, msgsz, CF_EINVAL, "--batch must be at "
		    "least 1 (or a percentage above 0)");
	return 0;
}

int cmd_rollout_make(struct cmd_rollout *cr, const struct fleet *f,
    const struct cmd_opts *o, const struct server *const *servers,
    struct engine_target *tg, size_t n, char *msg, size_t msgsz)
{
	const struct fleet_rollout *fr = &f->rollout;
	size_t i, k;
	int rc;

	memset(cr, 0, sizeof *cr);
	cr->on = fr->set || o->batch || o->max_failures || o->canary;
	if (!cr->on)
		return 0;
	cr->engine.policy = fr->policy;
	cr->engine.verify = !o->no_verify;
	cr->engine.verify_timeout_ms = 1000u * (unsigned)fr->verify_timeout;
	if ((o->batch && (rc = amount_option("--batch", o->batch,
	    &cr->engine.policy.batch, msg, msgsz)) != 0) ||
	    (o->max_failures && (rc = amount_option("--max-failures",
	    o->max_failures, &cr->engine.policy.max_failures, msg,
	    msgsz)) != 0))
		return rc;
	if ((cr->canary = calloc(n + 1, sizeof *cr->canary)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	cr->engine.canary = cr->canary;
	for (i = 0; i < n; i++) {
		for (k = 0; k < fr->ncanary && !o->canary; k++)
			if (server_matches(servers[i], fr->canary[k]))
				cr->canary[i] = true;
		tg[i].verify_address = servers[i]->verify_address ?
		    servers[i]->verify_address : servers[i]->address;
		tg[i].verify = servers[i]->verify_set ? servers[i]->verify :
		    fr->verify;
		tg[i].nverify = servers[i]->verify_set ?
		    servers[i]->nverify : fr->nverify;
	}
	return o->canary ? canary_from_option(cr, o->canary, f,
	    o->shard.n > 0, servers, n, msg, msgsz) : 0;
}

/* "webservices_external:443, default:5061" */
static void checks_text(const struct engine_target *tg, char *buf,
    size_t bufsz)
{
	size_t k, len = 0;

	buf[0] = '\0';
	for (k = 0; k < tg->nverify && len + 1 < bufsz; k++)
		len += (size_t)snprintf(buf + len, bufsz - len, "%s%s:%d",
		    k ? ", " : "", usage_name(tg->utab, tg->verify[k].usage),
		    tg->verify[k].port);
}

int cmd_rollout_plan(const struct cmd_rollout *cr,
    const struct engine_target *tg, struct report *rep)
{
	struct rollout_plan p;
	size_t *due, n = 0, i, b;
	char checks[256], *note;

	if (!cr->on)
		return 0;
	if ((due = calloc(rep->n + 1, sizeof *due)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < rep->n; i++)
		if (rep->rows[i].status == REPORT_WOULD_ISSUE)
			due[n++] = i;
	if (rollout_plan_make(&cr->engine.policy, due, n, cr->canary,
	    &p) != 0) {
		free(due);
		return CF_ENOMEM;
	}
	for (b = 0; b < p.nbatches; b++)
		for (i = p.start[b]; i < p.start[b + 1]; i++)
			rep->rows[p.order[i]].batch = (int)b + 1;
	checks[0] = '\0';
	for (i = 0; i < n && cr->engine.verify; i++)
		if (tg[due[i]].nverify > 0) {
			checks_text(&tg[due[i]], checks, sizeof checks);
			break;
		}
	note = cf_asprintf("rollout: %zu batch%s%s; verify: %s", p.nbatches,
	    p.nbatches == 1 ? "" : "es", p.canary ? " (batch 1 the canary)" :
	    "", !cr->engine.verify ? "off (--no-verify)" : checks[0] ?
	    checks : "none");
	free(rep->rollout);
	rep->rollout = note;
	rollout_plan_release(&p);
	free(due);
	return note ? 0 : CF_ENOMEM;
}
