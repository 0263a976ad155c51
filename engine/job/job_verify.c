/*
 * Verify, in a staged rollout: after assignment and reload, each verify
 * check whose usage was assigned connects to the server (engine/rollout/
 * verify.c) and compares what it serves with the certificate just
 * assigned. When any check fails, the assignment is undone (the same
 * atomic switch back as a failed reload, and the reload again), and the
 * job ends verify_failed with what was served.
 */
#include "engine/job/job.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

/* The name the certificate is served under: its first DNS name, else the
 * address itself. */
static const char *sni_of(const struct job *j)
{
	const struct req_spec *rs = j->tg->spec;
	size_t k;

	for (k = 0; rs != NULL && k < rs->nsan; k++)
		if (strncmp(rs->san[k], "DNS:", 4) == 0)
			return rs->san[k] + 4;
	return j->tg->verify_address;
}

static bool check_wanted(const struct job *j, size_t k)
{
	return (j->row->usages & (1u << j->tg->verify[k].usage)) != 0;
}

bool job_verify_applies(struct job *j)
{
	const struct engine_rollout *ro = j->cfg->rollout;
	size_t k;

	if (ro == NULL)
		return false;
	for (k = 0; ro->verify && k < j->tg->nverify; k++)
		if (check_wanted(j, k))
			return true;
	snprintf(j->row->verify, sizeof j->row->verify, "skipped");
	return false;
}

static void on_undone(struct assign *a, int status)
{
	struct job *j = a->data;

	(void)status;
	snprintf(j->error, sizeof j->error, "%s", a->msg);
	/* What was switched back no longer holds the new certificate. */
	job_usages_hold(j, j->row->usages & ~a->rolled_back);
	job_back(j);
}

/* Every check is back: verified, or the assignment is undone. */
static void verify_over(struct job *j)
{
	int rc;

	if (j->verified) {
		snprintf(j->row->verify, sizeof j->row->verify, "ok");
		job_back(j);
		return;
	}
	snprintf(j->row->verify, sizeof j->row->verify, "failed");
	j->assign.data = j;
	rc = assign_undo(&j->assign, j->error, on_undone);
	if (rc == CF_ENOENT)
		snprintf(j->error, sizeof j->error, "%s", j->assign.msg);
	if (rc != 0)
		job_back(j);
}

static void on_verified(void *arg, int status, const char *served,
    const char *msg)
{
	struct job *j = arg;

	if (status == 0 && j->row->served[0] == '\0')
		snprintf(j->row->served, sizeof j->row->served, "%s", served);
	if (status != 0 && j->verified) {
		/* The first failure names the server; the others add
		 * nothing an operator needs. */
		j->verified = false;
		snprintf(j->row->served, sizeof j->row->served, "%s", served);
		snprintf(j->error, sizeof j->error, "'%s' does not serve its "
		    "new certificate: %s", j->tg->name, msg);
	}
	if (--j->verify_left == 0)
		verify_over(j);
}

void job_verify_enter(struct job *j)
{
	const struct engine_rollout *ro = j->cfg->rollout;
	struct verify_req rq;
	char msg[256];
	size_t k;
	int rc;

	j->verified = true;
	j->verify_left = 1;         /* held until every check has started */
	j->row->served[0] = '\0';
	for (k = 0; k < j->tg->nverify; k++) {
		if (!check_wanted(j, k))
			continue;
		rq.address = j->tg->verify_address;
		rq.port = j->tg->verify[k].port;
		rq.sni = sni_of(j);
		rq.expected = j->rq.sha256;
		rq.timeout_ms = ro->verify_timeout_ms;
		j->verify_left++;
		rc = verify_start(engine_verify_pool(j->eng), &rq, on_verified,
		    j, msg, sizeof msg);
		if (rc != 0)
			on_verified(j, rc, "", msg);
	}
	if (--j->verify_left == 0)
		verify_over(j);
}
