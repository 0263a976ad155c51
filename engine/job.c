/*
 * The job state machine. Every step ends by starting I/O (a file read, a
 * threadpool work item, a CA request, a timer); its callback stores the
 * result and moves the job on. State changes go through job_set_state
 * only, which checks the transition table and writes the journal before
 * the next step starts, so a run killed at any point resumes from the
 * journal without asking the CA twice.
 */
#include "engine/job.h"
#include "engine/assign.h"
#include "engine/crypto.h"
#include "engine/err.h"
#include "engine/fsio.h"
#include "engine/inspect.h"

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

#define FILE_MAX (1024 * 1024)

static void inspect_next(struct job *j, int u);
static void keygen_start(struct job *j);
static void submit(struct job *j);
static void chain_read(struct job *j);
static void assign_begin(struct job *j);
static void job_finish(struct job *j, enum report_status outcome);

static const struct engine_config *cfg_of(const struct job *j)
{
	return j->e->cfg;
}

/*
 * The one place a job changes state: refuses what the table forbids, then
 * records the new state (and detail) in the journal. A request stays open
 * for the next run (final = 0) exactly while job_state_holds_request.
 */
static int job_set_state(struct job *j, enum job_state next,
    const char *detail)
{
	struct journal *jr = cfg_of(j)->journal;
	char msg[256];

	if (!job_transition_allowed(j->state, next)) {
		snprintf(j->error, sizeof j->error, "internal error: no "
		    "transition from %s to %s", job_state_name(j->state),
		    job_state_name(next));
		return CF_EINTERNAL;
	}
	j->state = next;
	if (jr == NULL || j->rq.id == 0)
		return 0;
	j->rq.final = !job_state_holds_request(next);
	if (journal_strset(&j->rq.state, job_state_name(next)) != 0 ||
	    journal_request_save(jr, &j->rq, detail, msg, sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "cannot record state '%s' "
		    "of '%s' in the journal: %s", job_state_name(next),
		    j->tg->name, msg);
		return CF_EDB;
	}
	return 0;
}

static void job_fail(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the job as failed with a message an operator can act on. */
static void job_fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(j->error, sizeof j->error, fmt, ap);
		va_end(ap);
	}
	if (job_transition_allowed(j->state, JOB_FAILED)) {
		journal_strset(&j->rq.error, j->error);
		job_set_state(j, JOB_FAILED, j->error);
	}
	job_finish(j, REPORT_FAILED);
}

/* Moves to next, or ends the job failed when the journal refused it. */
static bool advance(struct job *j, enum job_state next, const char *detail)
{
	if (job_set_state(j, next, detail) == 0)
		return true;
	job_finish(j, REPORT_FAILED);
	return false;
}

/* ---- inspect ---- */

struct read_ctx {
	struct job *j;
	int u;
};

static void on_current(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct read_ctx *rc = arg;
	struct job *j = rc->j;
	int u = rc->u;

	free(rc);
	j->reads--;
	if (status == 0) {
		if ((j->current[u] = malloc(len + 1)) == NULL) {
			job_fail(j, "out of memory");
			return;
		}
		memcpy(j->current[u], data, len);
		j->current[u][len] = '\0';
	} else if (status != CF_ENOENT) {
		job_fail(j, "%s", msg);
		return;
	}
	inspect_next(j, u + 1);
}

static void preflight_done(struct job *j);

static void decide(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	struct report_row *row = &j->e->report->rows[j->i];
	struct inspect_result r;

	inspect_decide((const char *const *)j->current, j->tg->usages,
	    j->tg->spec, cfg->renew_before_days, cfg->now, cfg->force, &r);
	memcpy(row->thumbprint, r.thumbprint, sizeof row->thumbprint);
	memcpy(row->sha256, r.sha256, sizeof row->sha256);
	row->not_after = r.not_after;
	if (!r.due) {
		char msg[256];
		int u;

		/* Up to date; still check that the server's stores hold the
		 * CAs of what it serves, since stores change under us. */
		row->usages = j->tg->usages;
		for (u = 0; j->current[u] == NULL; u++)
			;
		j->current_only = true;
		if (crypto_certs_from_pem(j->current[u], "the assigned "
		    "certificate", &j->certs, msg, sizeof msg) != 0) {
			if (advance(j, JOB_UP_TO_DATE, NULL))
				job_finish(j, REPORT_UP_TO_DATE);
			return;
		}
		chain_read(j);
		return;
	}
	report_row_set(&row->ca_status, r.reason);
	if (cfg->mode == ENGINE_PLAN) {
		chain_read(j);
		return;
	}
	if (advance(j, JOB_KEYGEN, r.reason))
		keygen_start(j);
}

static void inspect_next(struct job *j, int u)
{
	struct read_ctx *rc;
	char *path;
	int st;

	while (u < USAGE_MAX && !(j->tg->usages & (1u << u)))
		u++;
	if (u == USAGE_MAX) {
		decide(j);
		return;
	}
	if ((rc = malloc(sizeof(*rc))) == NULL ||
	    (path = assign_cert_path(j->tg->store->certs,
	    &j->tg->bindings[u], (enum usage)u)) == NULL) {
		free(rc);
		job_fail(j, "out of memory");
		return;
	}
	rc->j = j;
	rc->u = u;
	j->reads++;
	st = j->t->ops->read_file(j->t, path, FILE_MAX, on_current, rc);
	free(path);
	if (st != 0) {
		j->reads--;
		free(rc);
		job_fail(j, "cannot inspect '%s': %s", j->tg->name,
		    cf_strerror(st));
	}
}

/* ---- key, CSR, submission ---- */

/* Threadpool work: gets copies, hands results back to the after-callback.
 * The private key goes from memory to its 0600 file and nowhere else. */
struct keygen_work {
	uv_work_t work;
	struct job *j;              /* touched only in the after-callback */
	struct req_spec spec;
	char *keys_dir;
	char *server;
	char *key_path;
	char *csr_pem;
	int rc;
	char msg[512];
};

/*
 * Removes "<server>-<id>.key" files a killed run left behind. Called only
 * when the server has no open request, so no key of it is still waited
 * for; the digits rule keeps server "fe" away from "fe-01"'s keys.
 */
static void remove_stale_keys(const char *dir, const char *server)
{
	size_t n = strlen(server);
	struct dirent *de;
	char path[4096];
	const char *p;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, server, n) != 0 || de->d_name[n] != '-')
			continue;
		p = de->d_name + n + 1;
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p) - 4 ||
		    strcmp(p + strlen(p) - 4, ".key") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void keygen_run(uv_work_t *w)
{
	struct keygen_work *kw = container_of(w, struct keygen_work, work);
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	char *pem = NULL;
	size_t len = 0;

	if ((kw->rc = crypto_keygen(&kw->spec.key, &key, kw->msg,
	    sizeof kw->msg)) != 0 ||
	    (kw->rc = crypto_csr_new(key, &kw->spec, &csr, kw->msg,
	    sizeof kw->msg)) != 0 ||
	    (kw->rc = crypto_csr_to_pem(csr, &kw->csr_pem, kw->msg,
	    sizeof kw->msg)) != 0 ||
	    (kw->rc = crypto_key_to_pem(key, &pem, &len, kw->msg,
	    sizeof kw->msg)) != 0)
		goto out;
	remove_stale_keys(kw->keys_dir, kw->server);
	kw->rc = fsio_write_atomic(kw->key_path, pem, len, 0600, kw->msg,
	    sizeof kw->msg);
out:
	if (pem)
		crypto_secret_free(pem, len);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

static void keygen_free(struct keygen_work *kw)
{
	req_spec_release(&kw->spec);
	free(kw->keys_dir);
	free(kw->server);
	free(kw->key_path);
	free(kw->csr_pem);
	free(kw);
}

static void keygen_after(uv_work_t *w, int status)
{
	struct keygen_work *kw = container_of(w, struct keygen_work, work);
	struct job *j = kw->j;

	if (status != 0 || kw->rc != 0) {
		job_fail(j, "cannot make a key for '%s': %s", j->tg->name,
		    status ? uv_strerror(status) : kw->msg);
	} else if (journal_strset(&j->rq.csr_pem, kw->csr_pem) != 0 ||
	    journal_strset(&j->rq.key_path, kw->key_path) != 0) {
		job_fail(j, "out of memory");
	} else if (advance(j, JOB_SUBMIT, NULL)) {
		submit(j);
	}
	keygen_free(kw);
}

/* Where a key made on the server waits for its certificate: next to the
 * certificates, under the directory assignment keeps to itself. */
#define REMOTE_KEY_PREFIX "server:"

static void on_remote_csr(void *arg, int status, const char *data,
    size_t len, const char *msg)
{
	struct job *j = arg;

	(void)len;
	if (status != 0) {
		job_fail(j, "%s", msg);
		return;
	}
	if (journal_strset(&j->rq.csr_pem, data) != 0) {
		job_fail(j, "out of memory");
		return;
	}
	if (advance(j, JOB_SUBMIT, "key made on the server"))
		submit(j);
}

/* keygen = "server": the transport makes the key on the server and hands
 * back only a CSR. */
static void remote_keygen_start(struct job *j)
{
	const struct req_spec *rs = j->tg->spec;
	char keytype[32], *path = NULL, *san = NULL, *cn = NULL;
	size_t i, n = 1;
	int rc = CF_ENOMEM;

	if (j->t->ops->keygen == NULL) {
		job_fail(j, "keygen = \"server\" for '%s' needs a transport "
		    "that can make keys on the server (ssh)", j->tg->name);
		return;
	}
	for (i = 0; i < rs->nsan; i++)
		n += strlen(rs->san[i]) + 1;
	san = calloc(1, n);
	path = malloc(strlen(j->tg->store->certs) + 64);
	for (i = 0; san && i < rs->nsan; i++) {
		if (i)
			strcat(san, ",");
		strcat(san, rs->san[i]);
		if (cn == NULL && strncmp(rs->san[i], "DNS:", 4) == 0)
			cn = rs->san[i] + 4;
	}
	if (san && path) {
		sprintf(path, "%s/.certfleet/keys/%s-%lld.key",
		    j->tg->store->certs, j->tg->name, (long long)j->rq.id);
		key_spec_describe(&rs->key, keytype, sizeof keytype);
		free(j->rq.key_path);
		if ((j->rq.key_path = malloc(strlen(path) + 8)) != NULL)
			sprintf(j->rq.key_path, "%s%s", REMOTE_KEY_PREFIX,
			    path);
		rc = j->rq.key_path ? j->t->ops->keygen(j->t, keytype, path,
		    cn ? cn : j->tg->name, san, on_remote_csr, j) : CF_ENOMEM;
	}
	free(san);
	free(path);
	if (rc != 0)
		job_fail(j, "cannot make a key on '%s': %s", j->tg->name,
		    cf_strerror(rc));
}

static void keygen_start(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	struct keygen_work *kw = calloc(1, sizeof(*kw));
	char msg[256];
	size_t n;

	if (kw == NULL) {
		job_fail(j, "out of memory");
		return;
	}
	kw->j = j;
	req_spec_init(&kw->spec);
	if (journal_strset(&j->rq.server, j->tg->name) != 0 ||
	    journal_strset(&j->rq.state, job_state_name(JOB_KEYGEN)) != 0 ||
	    req_spec_copy(&kw->spec, j->tg->spec) != 0) {
		keygen_free(kw);
		job_fail(j, "out of memory");
		return;
	}
	j->rq.run_id = cfg->run_id;
	if (cfg->journal && journal_request_new(cfg->journal, &j->rq, msg,
	    sizeof msg) != 0) {
		keygen_free(kw);
		job_fail(j, "cannot record a request for '%s' in the journal: "
		    "%s", j->tg->name, msg);
		return;
	}
	if (j->tg->keygen_remote) {
		keygen_free(kw);
		remote_keygen_start(j);
		return;
	}
	n = strlen(cfg->keys_dir) + strlen(j->tg->name) + 32;
	if ((kw->key_path = malloc(n)) == NULL ||
	    (kw->keys_dir = strdup(cfg->keys_dir)) == NULL ||
	    (kw->server = strdup(j->tg->name)) == NULL) {
		keygen_free(kw);
		job_fail(j, "out of memory");
		return;
	}
	snprintf(kw->key_path, n, "%s/%s-%lld.key", cfg->keys_dir,
	    j->tg->name, (long long)j->rq.id);
	if (uv_queue_work(j->e->loop, &kw->work, keygen_run,
	    keygen_after) != 0) {
		keygen_free(kw);
		job_fail(j, "cannot queue key generation");
	}
}

/* Reads the issued certificate from the journal row into j->certs and
 * fills the row's thumbprint, fingerprint and expiry. */
static int load_issued(struct job *j)
{
	char msg[256], hex[65];
	time_t na = 0;
	X509 *leaf;

	if (j->rq.cert_pem == NULL ||
	    crypto_certs_from_pem(j->rq.cert_pem, "the issued certificate",
	    &j->certs, msg, sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "the CA's answer for '%s' "
		    "holds no certificate", j->tg->name);
		return CF_ECRYPTO;
	}
	leaf = sk_X509_value(j->certs, 0);
	crypto_thumbprint(leaf, hex);
	journal_strset(&j->rq.thumbprint, hex);
	crypto_fingerprint_sha256(leaf, hex);
	journal_strset(&j->rq.sha256, hex);
	crypto_cert_not_after(leaf, &na);
	j->rq.not_after = na;
	return 0;
}

/* A CA that signed another key than the CSR's must not be trusted with
 * this server. */
static int check_issued_key(struct job *j)
{
	X509_REQ *csr = NULL;
	char msg[256];
	bool same;

	if (crypto_csr_from_pem(j->rq.csr_pem, "the CSR", &csr, msg,
	    sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "%s", msg);
		return CF_ECRYPTO;
	}
	same = crypto_csr_matches_cert(csr, sk_X509_value(j->certs, 0));
	X509_REQ_free(csr);
	if (!same) {
		snprintf(j->error, sizeof j->error, "the CA returned a "
		    "certificate for '%s' whose key is not the CSR's",
		    j->tg->name);
		return CF_ECRYPTO;
	}
	return 0;
}

static void on_poll_timer(uv_timer_t *t)
{
	struct job *j = container_of(t, struct job, timer);

	if (advance(j, JOB_POLL, NULL))
		submit(j);
}

static void on_reply(void *arg, struct ca_reply *r)
{
	struct job *j = arg;
	const struct engine_config *cfg = cfg_of(j);

	if (r->ref)
		journal_strset(&j->rq.ca_ref, r->ref);
	journal_strset(&j->rq.ca_status, r->status_text);
	report_row_set(&j->e->report->rows[j->i].ca_status, r->status_text);
	switch (r->answer) {
	case CA_ISSUED:
		j->rq.cert_pem = r->cert_pem;
		r->cert_pem = NULL;
		if (load_issued(j) != 0 || check_issued_key(j) != 0) {
			journal_strset(&j->rq.error, j->error);
			job_fail(j, NULL);
			return;
		}
		/* The certificate is in the journal before anything else. */
		if (advance(j, JOB_ISSUED, r->status_text) &&
		    advance(j, JOB_CHAIN_CHECK, NULL))
			chain_read(j);
		return;
	case CA_PENDING:
		if (!advance(j, JOB_PENDING, r->detail))
			return;
		if (r->retry_after < 0 || r->retry_after > cfg->max_wait_s) {
			job_finish(j, REPORT_PENDING);
			return;
		}
		uv_timer_start(&j->timer, on_poll_timer,
		    (uint64_t)r->retry_after * 1000, 0);
		return;
	case CA_DENIED:
		snprintf(j->error, sizeof j->error, "denied by the CA: %s",
		    r->detail ? r->detail : "no reason given");
		journal_strset(&j->rq.error, j->error);
		if (advance(j, JOB_DENIED, j->error))
			job_finish(j, REPORT_DENIED);
		return;
	case CA_ERROR:
		job_fail(j, "the CA failed for '%s': %s", j->tg->name,
		    r->detail ? r->detail : "no reason given");
		return;
	}
}

/* In SUBMIT: send the CSR. In POLL: ask about the request
 * the CA already holds; with no handle yet (killed before the CA
 * answered) send the same CSR again. */
static void submit(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	struct ca_request req = { j->tg->name, j->rq.csr_pem, j->tg->spec,
	    j->rq.ca_ref, j->rq.approved != 0 };
	int rc;

	j->rq.attempts++;
	if (j->state == JOB_POLL && j->rq.ca_ref != NULL)
		rc = cfg->ca->ops->poll(cfg->ca, &req, on_reply, j);
	else
		rc = cfg->ca->ops->submit(cfg->ca, &req, on_reply, j);
	if (rc != 0)
		job_fail(j, "cannot send the request for '%s' to the CA: %s",
		    j->tg->name, cf_strerror(rc));
}

/* ---- chain check ---- */

static void chain_decide(struct job *j);

/* Fills store which (0 roots, 1 intermediates) from a store read. A store
 * that is a single file keeps its bytes, so an import can append to it. */
static void add_entries(struct job *j, int which, const char *path,
    const struct transport_entry *e, size_t n)
{
	struct cert_store *s = which ? &j->inters : &j->roots;
	const char *base = strrchr(path, '/');
	char msg[256];
	size_t i;

	base = base ? base + 1 : path;
	free(j->bundle[which]);
	j->bundle[which] = NULL;
	if (n == 1 && strcmp(e[0].name, base) == 0)
		j->bundle[which] = strndup(e[0].data, e[0].len);
	/* A stray file that holds no certificate does not make the store
	 * unusable; the CAs that are there still count. */
	for (i = 0; i < n; i++)
		cert_store_add_pem(s, e[i].data, e[i].len, e[i].name, msg,
		    sizeof msg);
}

static void on_inters(void *arg, int status,
    const struct transport_entry *e, size_t n, const char *msg)
{
	struct job *j = arg;

	if (status != 0) {
		job_fail(j, "%s", msg);
		return;
	}
	add_entries(j, 1, j->tg->store->intermediates, e, n);
	chain_decide(j);
}

static void on_roots(void *arg, int status, const struct transport_entry *e,
    size_t n, const char *msg)
{
	struct job *j = arg;
	int rc;

	if (status != 0) {
		job_fail(j, "%s", msg);
		return;
	}
	add_entries(j, 0, j->tg->store->roots, e, n);
	rc = j->t->ops->read_store(j->t, j->tg->store->intermediates, FILE_MAX,
	    on_inters, j);
	if (rc != 0)
		job_fail(j, "cannot read the intermediate store of '%s': %s",
		    j->tg->name, cf_strerror(rc));
}

static void chain_read(struct job *j)
{
	int rc;

	/* Read afresh: after an import the stores have changed. */
	cert_store_release(&j->roots);
	cert_store_release(&j->inters);
	cert_store_init(&j->roots);
	cert_store_init(&j->inters);
	rc = j->t->ops->read_store(j->t, j->tg->store->roots, FILE_MAX,
	    on_roots, j);

	if (rc != 0)
		job_fail(j, "cannot read the root store of '%s': %s",
		    j->tg->name, cf_strerror(rc));
}

static unsigned ekus_needed(unsigned usages)
{
	unsigned eku = 0;
	int u;

	for (u = 0; u < USAGE_MAX; u++)
		if (usages & (1u << u))
			eku |= usage_eku_needed((enum usage)u);
	return eku;
}

static char *missing_json(const struct chain_verdict *v)
{
	json_t *a = json_array();
	char *s;
	size_t i;

	for (i = 0; a && i < v->nmissing; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}",
		    "kind", chain_kind_name(v->missing[i].kind),
		    "subject", v->missing[i].subject ?
		    v->missing[i].subject : "", "sha1", v->missing[i].sha1,
		    "reason", v->missing[i].reason ?
		    v->missing[i].reason : ""));
	s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

/* Plan: would a leaf from this CA verify here? */
static void preflight_done(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	STACK_OF(X509) *chain = NULL;
	char msg[256];

	if (cfg->ca_chain_pem == NULL ||
	    crypto_certs_from_pem(cfg->ca_chain_pem, "the CA chain", &chain,
	    msg, sizeof msg) != 0 ||
	    chain_preflight(chain, &j->roots, &j->inters, cfg->now,
	    &j->verdict, msg, sizeof msg) != 0)
		chain_verdict_init(&j->verdict);
	sk_X509_pop_free(chain, X509_free);
	job_finish(j, REPORT_WOULD_ISSUE);
}

/* ---- importing pinned CAs ---- */

static void import_next(struct job *j);

static bool pinned(const struct engine_config *cfg, const char *sha256)
{
	size_t i;

	for (i = 0; i < cfg->npins; i++)
		if (strcmp(cfg->trusted_pins[i], sha256) == 0)
			return true;
	return false;
}

static void note(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct job *j, const char *fmt, ...)
{
	size_t len = strlen(j->import_note);
	va_list ap;

	if (len > 0 && len + 2 < sizeof j->import_note) {
		strcpy(j->import_note + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(j->import_note + len, sizeof j->import_note - len, fmt, ap);
	va_end(ap);
}

static void on_imported(void *arg, int status, const char *msg)
{
	struct job *j = arg;
	struct journal *jr = cfg_of(j)->journal;
	char err[256];

	if (status != 0) {
		note(j, "%s", msg);
	} else if (jr != NULL && j->rq.id != 0) {
		/* The import is part of this job's history. */
		journal_request_save(jr, &j->rq, "imported a pinned CA", err,
		    sizeof err);
	}
	import_next(j);
}

/* The CA certificate the CA sent with the leaf whose SHA-1 is sha1. */
static X509 *sent_ca(struct job *j, const char *sha1)
{
	char hex[41];
	int i;

	for (i = 1; i < sk_X509_num(j->certs); i++)
		if (crypto_thumbprint(sk_X509_value(j->certs, i), hex) == 0 &&
		    strcmp(hex, sha1) == 0)
			return sk_X509_value(j->certs, i);
	return NULL;
}

/*
 * Imports the next missing CA that the fleet file pins into the store its
 * kind belongs in: a new file "certfleet-<SHA1>.pem" in a store directory,
 * or the bundle rewritten with the CA appended. When none is left, reads
 * the stores again and decides afresh.
 */
static void import_next(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	const struct chain_missing *m;
	char sha256[65], *pem = NULL, *data, *path, msg[256];
	const char *store;
	int which, rc;
	X509 *ca;

	while (j->import_next < j->verdict.nmissing) {
		m = &j->verdict.missing[j->import_next++];
		if (m->why != CHAIN_WHY_ABSENT && m->why != CHAIN_WHY_MISPLACED)
			continue;
		if ((ca = sent_ca(j, m->sha1)) == NULL) {
			note(j, "'%s' not imported: the CA did not send it",
			    m->subject);
			continue;
		}
		crypto_fingerprint_sha256(ca, sha256);
		if (!pinned(cfg, sha256)) {
			note(j, "'%s' not imported: its SHA-256 %s is not in "
			    "ca.trusted_roots", m->subject, sha256);
			continue;
		}
		which = m->kind == CHAIN_KIND_ROOT ? 0 : 1;
		store = which ? j->tg->store->intermediates :
		    j->tg->store->roots;
		if (crypto_cert_to_pem(ca, &pem, msg, sizeof msg) != 0) {
			note(j, "'%s' not imported: %s", m->subject, msg);
			continue;
		}
		if (j->bundle[which] != NULL) {
			path = strdup(store);
			data = malloc(strlen(j->bundle[which]) + strlen(pem) + 2);
			if (data)
				sprintf(data, "%s%s%s", j->bundle[which],
				    *j->bundle[which] && j->bundle[which][
				    strlen(j->bundle[which]) - 1] != '\n' ?
				    "\n" : "", pem);
		} else {
			path = malloc(strlen(store) + 64);
			if (path)
				sprintf(path, "%s/certfleet-%s.pem", store,
				    m->sha1);
			data = strdup(pem);
		}
		free(pem);
		rc = path && data ? j->t->ops->write_file(j->t, path, data,
		    strlen(data), 0644, on_imported, j) : CF_ENOMEM;
		free(path);
		free(data);
		if (rc == 0)
			return;
		note(j, "'%s' not imported: %s", m->subject, cf_strerror(rc));
	}
	chain_read(j);
}

/*
 * Chain building and verification for one server, on the threadpool. The
 * job is parked while it runs (its stores, certificates and verdict are
 * touched by nothing on the loop), so they are handed over, not copied.
 */
struct chain_work {
	uv_work_t work;
	struct job *j;
	unsigned eku;
	time_t now;
	int rc;
	char msg[256];
};

static void chain_run(uv_work_t *w)
{
	struct chain_work *cw = container_of(w, struct chain_work, work);
	struct job *j = cw->j;
	STACK_OF(X509) *above = sk_X509_dup(j->certs);

	if (above == NULL) {
		cw->rc = cf_error(cw->msg, sizeof cw->msg, CF_ENOMEM,
		    "out of memory");
		return;
	}
	(void)sk_X509_shift(above);
	cw->rc = chain_diagnose(sk_X509_value(j->certs, 0), above, &j->roots,
	    &j->inters, cw->eku, cw->now, &j->verdict, cw->msg,
	    sizeof cw->msg);
	sk_X509_free(above);
}

static void chain_verdict_ready(struct job *j);

static void chain_after(uv_work_t *w, int status)
{
	struct chain_work *cw = container_of(w, struct chain_work, work);
	struct job *j = cw->j;

	if (status != 0 || cw->rc != 0)
		job_fail(j, "%s", status ? uv_strerror(status) : cw->msg);
	else
		chain_verdict_ready(j);
	free(cw);
}

static void chain_decide(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	struct chain_work *cw;

	if (cfg->mode == ENGINE_PLAN && !j->current_only) {
		preflight_done(j);
		return;
	}
	if ((cw = calloc(1, sizeof(*cw))) == NULL) {
		job_fail(j, "out of memory");
		return;
	}
	cw->j = j;
	cw->eku = ekus_needed(j->tg->usages);
	/* The time of the check, not of the run's start: a long run checks
	 * certificates signed after it began. */
	cw->now = time(NULL);
	if (uv_queue_work(j->e->loop, &cw->work, chain_run, chain_after) != 0) {
		free(cw);
		job_fail(j, "cannot queue the chain check");
	}
}

static void chain_verdict_ready(struct job *j)
{
	const struct engine_config *cfg = cfg_of(j);
	char msg[256];

	if (j->current_only) {
		if (advance(j, JOB_UP_TO_DATE, NULL))
			job_finish(j, REPORT_UP_TO_DATE);
		return;
	}
	if (j->verdict.status == CHAIN_MISSING_CA && cfg->import_ca &&
	    !j->imported) {
		j->imported = true;
		j->import_next = 0;
		import_next(j);
		return;
	}
	if (j->import_note[0] && j->verdict.status != CHAIN_OK) {
		size_t len = strlen(j->verdict.detail);

		snprintf(j->verdict.detail + len, sizeof j->verdict.detail - len,
		    "%s%s", len ? "; " : "", j->import_note);
	}
	journal_strset(&j->rq.chain_status,
	    chain_status_name(j->verdict.status));
	journal_strset(&j->rq.chain_detail, j->verdict.detail);
	free(j->rq.missing_json);
	j->rq.missing_json = missing_json(&j->verdict);
	if (j->verdict.status != CHAIN_OK) {
		chain_verdict_describe(&j->verdict, msg, sizeof msg);
		if (advance(j, JOB_CHAIN_FAILED, msg))
			job_finish(j, REPORT_ISSUED);
	} else if (cfg->mode == ENGINE_ASSIGN || cfg->assign) {
		if (advance(j, JOB_ASSIGN, NULL))
			assign_begin(j);
	} else if (advance(j, JOB_HELD, "assignment is off")) {
		job_finish(j, REPORT_ISSUED);
	}
}

/* ---- assignment ---- */

static void ignore_status(void *arg, int status, const char *msg)
{
	(void)arg;
	(void)status;
	(void)msg;
}

static void on_assigned(struct assign *a, int status)
{
	struct job *j = a->data;
	char msg[256], names[128] = "";
	int u;

	if (status != 0) {
		snprintf(j->error, sizeof j->error, "%s", a->msg);
		journal_strset(&j->rq.error, j->error);
		assign_release(a);
		if (advance(j, JOB_ASSIGN_FAILED, j->error))
			job_finish(j, REPORT_ASSIGN_FAILED);
		return;
	}
	for (u = 0; u < USAGE_MAX; u++)
		if (a->assigned & (1u << u)) {
			if (names[0])
				strcat(names, ",");
			strcat(names, usage_name((enum usage)u));
		}
	j->e->report->rows[j->i].usages = a->assigned;
	assign_release(a);
	journal_strset(&j->rq.usages, names);
	journal_strset(&j->rq.error, NULL);
	if (!advance(j, JOB_ASSIGNED, names))
		return;
	/* Assigned: the waiting copy of the key has served its purpose. */
	if (strncmp(j->rq.key_path, REMOTE_KEY_PREFIX,
	    strlen(REMOTE_KEY_PREFIX)) == 0)
		j->t->ops->remove(j->t, j->rq.key_path +
		    strlen(REMOTE_KEY_PREFIX), ignore_status, NULL);
	else
		fsio_remove(j->rq.key_path, msg, sizeof msg);
	job_finish(j, REPORT_ASSIGNED);
}

static void assign_begin(struct job *j)
{
	struct assign_input in;
	char *key = NULL, msg[1024];
	size_t len = 0;
	int rc;

	memset(&in, 0, sizeof in);
	if (j->rq.key_path && strncmp(j->rq.key_path, REMOTE_KEY_PREFIX,
	    strlen(REMOTE_KEY_PREFIX)) == 0) {
		in.key_on_server = j->rq.key_path + strlen(REMOTE_KEY_PREFIX);
	} else if (j->rq.key_path == NULL ||
	    fsio_read_file(j->rq.key_path, FILE_MAX, &key, &len, msg,
	    sizeof msg) != 0) {
		job_fail(j, "the private key of '%s' is gone: %s", j->tg->name,
		    j->rq.key_path ? msg : "never journaled");
		return;
	}
	in.server = j->tg->name;
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
	if (rc != 0) {
		assign_release(&j->assign);
		snprintf(j->error, sizeof j->error, "%s", msg);
		journal_strset(&j->rq.error, j->error);
		if (advance(j, JOB_ASSIGN_FAILED, j->error))
			job_finish(j, REPORT_ASSIGN_FAILED);
		return;
	}
	j->assign.data = j;
}

/* ---- start, resume, finish ---- */

static void resume(struct job *j, enum job_state st)
{
	const struct engine_config *cfg = cfg_of(j);
	struct report_row *row = &j->e->report->rows[j->i];

	report_row_set(&row->ca_status, j->rq.ca_status);
	switch (st) {
	case JOB_SUBMIT:
	case JOB_PENDING:
	case JOB_POLL:
		if (cfg->mode == ENGINE_ASSIGN) {
			job_finish(j, REPORT_PENDING);
			return;
		}
		if (advance(j, JOB_POLL, "resumed"))
			submit(j);
		return;
	default:
		if (load_issued(j) != 0) {
			job_fail(j, NULL);
			return;
		}
		if (advance(j, JOB_CHAIN_CHECK, "resumed"))
			chain_read(j);
		return;
	}
}

static void on_closed(struct job *j)
{
	struct engine *e = j->e;
	int u;

	if (--j->closing > 0)
		return;
	for (u = 0; u < USAGE_MAX; u++)
		free(j->current[u]);
	journal_request_release(&j->rq);
	cert_store_release(&j->roots);
	cert_store_release(&j->inters);
	free(j->bundle[0]);
	free(j->bundle[1]);
	sk_X509_pop_free(j->certs, X509_free);
	chain_verdict_release(&j->verdict);
	free(j);
	engine_job_done(e);
}

static void on_timer_closed(uv_handle_t *h)
{
	on_closed(container_of((uv_timer_t *)h, struct job, timer));
}

static void on_transport_closed(void *arg)
{
	on_closed(arg);
}

static void job_finish(struct job *j, enum report_status outcome)
{
	struct report_row *row = &j->e->report->rows[j->i];
	struct chain_verdict tmp;

	row->status = outcome;
	if (j->rq.thumbprint) {
		snprintf(row->thumbprint, sizeof row->thumbprint, "%s",
		    j->rq.thumbprint);
		snprintf(row->sha256, sizeof row->sha256, "%s",
		    j->rq.sha256 ? j->rq.sha256 : "");
		row->not_after = (time_t)j->rq.not_after;
	}
	if (j->error[0] && outcome != REPORT_UP_TO_DATE)
		report_row_set(&row->error, j->error);
	else if (j->import_note[0])
		report_row_set(&row->error, j->import_note);
	/* The verdict moves to the report; the job keeps an empty one. */
	tmp = row->chain;
	row->chain = j->verdict;
	j->verdict = tmp;
	/* Memory is freed only once every handle has closed. */
	j->closing = 1;
	uv_close((uv_handle_t *)&j->timer, on_timer_closed);
	if (j->t != NULL) {
		j->closing++;
		j->t->ops->close(j->t, on_transport_closed, j);
		j->t = NULL;
	}
}

void job_start(struct engine *e, size_t i)
{
	const struct engine_config *cfg = e->cfg;
	struct job *j = calloc(1, sizeof(*j));
	char msg[512];
	int rc, st;

	if (j == NULL) {
		e->report->rows[i].status = REPORT_FAILED;
		report_row_set(&e->report->rows[i].error, "out of memory");
		e->active++;
		engine_job_done(e);
		return;
	}
	j->e = e;
	j->i = i;
	j->tg = &cfg->targets[i];
	j->state = JOB_INSPECT;
	journal_request_init(&j->rq);
	cert_store_init(&j->roots);
	cert_store_init(&j->inters);
	chain_verdict_init(&j->verdict);
	uv_timer_init(e->loop, &j->timer);
	e->active++;

	if ((rc = cfg->open(cfg->ctx, i, e->loop, &j->t, msg,
	    sizeof msg)) != 0) {
		j->t = NULL;
		job_fail(j, "%s", msg);
		return;
	}
	if (cfg->journal) {
		rc = journal_request_open(cfg->journal, j->tg->name, &j->rq,
		    msg, sizeof msg);
		if (rc == 0 && (st = job_state_from_name(j->rq.state)) >= 0 &&
		    job_state_holds_request((enum job_state)st)) {
			resume(j, (enum job_state)st);
			return;
		}
		if (rc != 0 && rc != CF_ENOENT) {
			job_fail(j, "cannot read the journal for '%s': %s",
			    j->tg->name, msg);
			return;
		}
		journal_request_release(&j->rq);
	}
	if (cfg->mode == ENGINE_ASSIGN) {
		/* Nothing issued waits here: nothing to assign. */
		job_finish(j, REPORT_UP_TO_DATE);
		return;
	}
	inspect_next(j, 0);
}
