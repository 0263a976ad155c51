/*
 * Assignment of an issued certificate, through assign.c: the key read from
 * its 0600 file (or left on the server), and the waiting key removed once
 * every usage holds the certificate.
 */
#include "engine/job/job.h"
#include "engine/base/err.h"
#include "engine/base/crypto.h"
#include "engine/base/fsio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The assignment did not happen (why): the job goes to assign_failed. */
static void not_assigned(struct job *j, const char *why)
{
	snprintf(j->error, sizeof j->error, "%s", why);
	journal_strset(&j->rq.error, j->error);
	assign_release(&j->assign);
	j->assigned = false;
	job_back(j);
}

void job_usages_hold(struct job *j, unsigned usages)
{
	char names[128] = "";
	int u;

	for (u = 0; u < USAGE_MAX; u++)
		if (usages & (1u << u)) {
			if (names[0])
				strcat(names, ",");
			strcat(names, usage_name((enum usage)u));
		}
	j->row->usages = usages;
	journal_strset(&j->rq.usages, names[0] ? names : NULL);
}

static void on_assigned(struct assign *a, int status)
{
	struct job *j = a->data;

	if (status != 0) {
		not_assigned(j, a->msg);
		return;
	}
	/* a keeps its undo records: verify may roll it back. */
	job_usages_hold(j, a->assigned);
	journal_strset(&j->rq.error, NULL);
	/* Assigned closes the request, and with it goes the waiting copy
	 * of the key. */
	j->assigned = true;
	job_back(j);
}

void job_assign_enter(struct job *j)
{
	struct assign_input in;
	char *key = NULL, msg[1024];
	size_t len = 0;
	int rc;

	memset(&in, 0, sizeof in);
	if (j->rq.key_path && strncmp(j->rq.key_path, JOB_REMOTE_KEY_PREFIX,
	    strlen(JOB_REMOTE_KEY_PREFIX)) == 0) {
		in.key_on_server = j->rq.key_path + strlen(JOB_REMOTE_KEY_PREFIX);
	} else if (j->rq.key_path == NULL ||
	    fsio_read_file(j->rq.key_path, JOB_FILE_MAX, &key, &len, msg,
	    sizeof msg) != 0) {
		/* Without its key the certificate cannot be assigned: the
		 * next run asks for a new one. */
		job_failed(j, true, "the private key of '%s' is gone: %s",
		    j->tg->name, j->rq.key_path ? msg : "never journaled");
		return;
	}
	in.server = j->tg->name;
	in.fleet = j->cfg->fleet;
	in.address = j->tg->address;
	in.usages = j->tg->usages;
	in.certs = j->tg->store->certs;
	in.bindings = j->tg->bindings;
	in.cert_pem = j->rq.cert_pem;
	in.cert_len = strlen(j->rq.cert_pem);
	in.key_pem = key;
	in.key_len = len;
	rc = assign_start(&j->assign, j->t, &in, on_assigned, msg, sizeof msg);
	if (key != NULL)
		crypto_secret_free(key, len);
	if (rc != 0)
		not_assigned(j, msg);
	else
		j->assign.data = j;
}
