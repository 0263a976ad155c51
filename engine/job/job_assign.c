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
	char names[USAGE_CAP * (USAGE_NAME_MAX + 1)] = "";
	unsigned u;

	for (u = 0; u < USAGE_CAP; u++)
		if (usages & (1u << u)) {
			if (names[0])
				strcat(names, ",");
			strcat(names, usage_name(j->tg->utab, u));
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

/* Starts the assignment of the journaled certificate with key (len
 * bytes; NULL for a key on the server), checked already when checked, and
 * the usages' PKCS#12 files (or NULL). */
static void assign_now(struct job *j, const char *key, size_t len,
    bool checked, const struct assign_blob *p12)
{
	struct assign_input in;
	char msg[1024];

	memset(&in, 0, sizeof in);
	if (key == NULL)
		in.key_on_server = j->rq.key_path +
		    strlen(JOB_REMOTE_KEY_PREFIX);
	in.server = j->tg->name;
	in.fleet = j->cfg->fleet;
	in.address = j->tg->address;
	in.utab = j->tg->utab;
	in.usages = j->tg->usages;
	in.certs = j->tg->store->certs;
	in.bindings = j->tg->bindings;
	in.cert_pem = j->rq.cert_pem;
	in.cert_len = strlen(j->rq.cert_pem);
	in.key_pem = key;
	in.key_len = len;
	in.pair_checked = checked;
	in.p12 = p12;
	if (assign_start(&j->assign, j->t, &in, on_assigned, msg,
	    sizeof msg) != 0)
		not_assigned(j, msg);
	else
		j->assign.data = j;
}

/*
 * The key is read from its 0600 file and checked against the certificate
 * on the threadpool: parsing both is the costly part of an assignment.
 * The job waits in assign meanwhile; its request is handed over.
 */
struct key_work {
	uv_work_t work;
	struct job *j;
	char *key;
	size_t len;
	bool gone;                  /* the file could not be read */
	int rc;
	char msg[1024];
	struct assign_blob p12[USAGE_CAP];  /* for usages bound to one */
};

/* Makes the PKCS#12 file of every usage of j bound to one. */
static int make_p12(struct key_work *kw)
{
	const struct engine_target *tg = kw->j->tg;
	unsigned u;
	int rc;

	for (u = 0; u < USAGE_CAP; u++) {
		if (!(tg->usages & (1u << u)) || tg->bindings == NULL ||
		    tg->bindings[u].pkcs12 == NULL)
			continue;
		rc = assign_pkcs12(tg->name, usage_name(tg->utab, u),
		    &tg->bindings[u], kw->j->rq.cert_pem, kw->key, kw->len,
		    &kw->p12[u], kw->msg, sizeof kw->msg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void key_run(uv_work_t *w)
{
	struct key_work *kw = container_of(w, struct key_work, work);
	struct job *j = kw->j;

	if ((kw->rc = fsio_read_file(j->rq.key_path, JOB_FILE_MAX, &kw->key,
	    &kw->len, kw->msg, sizeof kw->msg)) != 0) {
		kw->gone = true;
		return;
	}
	/* j->certs holds this leaf parsed (job_load_issued, or the chain
	 * check's choice among the CA's chains, all for the same leaf). */
	kw->rc = assign_check_pair(j->tg->name, j->rq.cert_pem,
	    strlen(j->rq.cert_pem), sk_X509_value(j->certs, 0), kw->key,
	    kw->len, kw->msg, sizeof kw->msg);
	if (kw->rc == 0)
		kw->rc = make_p12(kw);
}

static void key_after(uv_work_t *w, int status)
{
	struct key_work *kw = container_of(w, struct key_work, work);
	struct job *j = kw->j;
	unsigned u;

	/* Without its key the certificate cannot be assigned: the next run
	 * asks for a new one. */
	if (status != 0)
		job_failed(j, false, "cannot read the key of '%s': %s",
		    j->tg->name, uv_strerror(status));
	else if (kw->gone)
		job_failed(j, true, "the private key of '%s' is gone: %s",
		    j->tg->name, kw->msg);
	else if (kw->rc != 0)
		not_assigned(j, kw->msg);
	else
		assign_now(j, kw->key, kw->len, true, kw->p12);
	if (kw->key != NULL)
		crypto_secret_free(kw->key, kw->len);
	for (u = 0; u < USAGE_CAP; u++)
		assign_blob_release(&kw->p12[u]);
	free(kw);
}

void job_assign_enter(struct job *j)
{
	struct key_work *kw;

	if (j->rq.key_path && strncmp(j->rq.key_path, JOB_REMOTE_KEY_PREFIX,
	    strlen(JOB_REMOTE_KEY_PREFIX)) == 0) {
		assign_now(j, NULL, 0, false, NULL);
		return;
	}
	if (j->rq.key_path == NULL) {
		job_failed(j, true, "the private key of '%s' is gone: never "
		    "journaled", j->tg->name);
		return;
	}
	if ((kw = calloc(1, sizeof(*kw))) == NULL) {
		job_failed(j, false, "out of memory");
		return;
	}
	kw->j = j;
	if (!job_queue(j, &kw->work, key_run, key_after, "the read of the key"))
		free(kw);
}
