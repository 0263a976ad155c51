/*
 * Issuing: the key and CSR (on the threadpool, or on the server for
 * keygen = "server"), the request to the CA, and every answer it gives:
 * issued, pending (a timer, then poll), denied, error. The certificate is
 * journaled before anything else looks at it.
 */
#include "engine/job/job.h"
#include "engine/job/key_reuse.h"
#include "engine/base/err.h"
#include "engine/base/crypto.h"
#include "engine/base/fsio.h"
#include "engine/base/str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Threadpool work: gets copies, hands results back to the after-callback.
 * The private key goes from memory to its 0600 file and nowhere else. */
struct keygen_work {
	uv_work_t work;
	struct job *j;              /* touched only in the after-callback */
	struct req_spec spec;
	char *key_path;
	char *csr_pem;
	int rc;
	char msg[512];
	char *reuse_pem;            /* reuse_key: the server's key (secret) */
	size_t reuse_len;
	const char *reuse_cert;     /* and its certificate (the job's) */
	bool reused;                /* that key was taken */
	char note[300];             /* else why a new one was made */
};

static void keygen_run(uv_work_t *w)
{
	struct keygen_work *kw = container_of(w, struct keygen_work, work);
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	size_t len = 0;

	if (kw->reuse_pem != NULL && (key = key_reuse_pick(kw->reuse_pem,
	    kw->reuse_cert, &kw->spec.key, kw->note, sizeof kw->note)) != NULL)
		kw->reused = true;
	if ((key == NULL && (kw->rc = crypto_keygen(&kw->spec.key, &key,
	    kw->msg, sizeof kw->msg)) != 0) ||
	    (kw->rc = crypto_csr_pem_new(key, &kw->spec, &kw->csr_pem,
	    kw->msg, sizeof kw->msg)) != 0 ||
	    (kw->rc = crypto_key_to_pem(key, &pem, &len, kw->msg,
	    sizeof kw->msg)) != 0)
		goto out;
	kw->rc = fsio_write_atomic(kw->key_path, pem, len, 0600, kw->msg,
	    sizeof kw->msg);
out:
	if (pem)
		crypto_secret_free(pem, len);
	EVP_PKEY_free(key);
}

static void keygen_free(struct keygen_work *kw)
{
	req_spec_release(&kw->spec);
	crypto_secret_free(kw->reuse_pem, kw->reuse_len + 1);
	free(kw->key_path);
	free(kw->csr_pem);
	free(kw);
}

/* reuse_key: the report's reason says whether the key was kept, and if
 * not, why. 0 or CF_ENOMEM. */
static int reuse_say(struct job *j, const struct keygen_work *kw)
{
	char *s;
	int rc;

	if (j->tg->renew == NULL || !j->tg->renew->reuse_key)
		return 0;
	s = cf_asprintf("%s; %s%s", j->row->reason ? j->row->reason : "",
	    kw->reused ? "key reused" : "new key: ", kw->reused ? "" :
	    kw->note);
	rc = s ? report_row_set(&j->row->reason, s) : CF_ENOMEM;
	free(s);
	return rc;
}

static void keygen_after(uv_work_t *w, int status)
{
	struct keygen_work *kw = container_of(w, struct keygen_work, work);
	struct job *j = kw->j;

	if (status != 0 || kw->rc != 0)
		job_failed(j, false, "cannot make a key for '%s': %s",
		    j->tg->name, status ? uv_strerror(status) : kw->msg);
	else if (journal_strset(&j->rq.csr_pem, kw->csr_pem) != 0 ||
	    journal_strset(&j->rq.key_path, kw->key_path) != 0 ||
	    reuse_say(j, kw) != 0)
		job_failed(j, false, "out of memory");
	else
		job_back(j);
	keygen_free(kw);
}

char *job_local_key_path(const struct job *j, int64_t id)
{
	return cf_asprintf("%s/%s-%lld.key", j->cfg->keys_dir, j->tg->name,
	    (long long)id);
}

int job_request_hash(const struct job *j, char out[65])
{
	const struct ca_driver *ca = j->cfg->ca;
	char id[600];

	snprintf(id, sizeof id, "%s:%s", ca ? ca->type : "",
	    ca && ca->id ? ca->id : "");
	return req_spec_hash(j->tg->spec, id, out);
}

static void on_remote_csr(void *arg, int status, const char *data,
    size_t len, const char *msg)
{
	struct job *j = arg;

	(void)len;
	if (status != 0)
		job_failed(j, false, "%s", msg);
	else if (journal_strset(&j->rq.csr_pem, data) != 0)
		job_failed(j, false, "out of memory");
	else
		job_back(j);
}

/* The SANs as the transport's keygen takes them: "DNS:a,IP:b". NULL when
 * out of memory. */
static char *san_list(const struct req_spec *rs)
{
	char *s = cf_asprintf("%s", ""), *n;
	size_t i;

	for (i = 0; s != NULL && i < rs->nsan; i++) {
		n = cf_asprintf("%s%s%s", s, i ? "," : "", rs->san[i]);
		free(s);
		s = n;
	}
	return s;
}

/* keygen = "server": the transport makes the key on the server and hands
 * back only a CSR. */
static void remote_keygen_start(struct job *j)
{
	const struct req_spec *rs = j->tg->spec;
	char keytype[32], *path, *san;
	const char *cn = NULL;
	size_t i;
	int rc = CF_ENOMEM;

	if (j->t->ops->keygen == NULL) {
		job_failed(j, false, "keygen = \"server\" for '%s' needs a "
		    "transport that can make keys on the server (ssh)",
		    j->tg->name);
		return;
	}
	for (i = 0; cn == NULL && i < rs->nsan; i++)
		if (strncmp(rs->san[i], "DNS:", 4) == 0)
			cn = rs->san[i] + 4;
	san = san_list(rs);
	path = cf_asprintf("%s/.certfleet/keys/%s-%lld.key",
	    j->tg->store->certs, j->tg->name, (long long)j->rq.id);
	free(j->rq.key_path);
	j->rq.key_path = path ? cf_asprintf("%s%s", JOB_REMOTE_KEY_PREFIX,
	    path) : NULL;
	if (san && j->rq.key_path) {
		key_spec_describe(&rs->key, keytype, sizeof keytype);
		rc = j->t->ops->keygen(j->t, keytype, path,
		    cn ? cn : j->tg->name, san, on_remote_csr, j);
	}
	free(san);
	free(path);
	if (rc != 0)
		job_failed(j, false, "cannot make a key on '%s': %s",
		    j->tg->name, cf_strerror(rc));
}

static void keygen_queue(struct keygen_work *kw)
{
	if (!job_queue(kw->j, &kw->work, keygen_run, keygen_after,
	    "key generation"))
		keygen_free(kw);
}

/* The server's current key is back: to the threadpool, which keeps it
 * if it fits (key_reuse_pick) or makes a new one. */
static void on_reuse_key(void *arg, int status, const char *data,
    size_t len, const char *msg)
{
	struct keygen_work *kw = arg;

	if (status == 0 && (kw->reuse_pem = malloc(len + 1)) != NULL) {
		memcpy(kw->reuse_pem, data, len);
		kw->reuse_pem[len] = '\0';
		kw->reuse_len = len;
	} else {
		snprintf(kw->note, sizeof kw->note, "cannot read the current "
		    "key: %s", status == 0 ? "out of memory" : msg);
	}
	keygen_queue(kw);
}

/*
 * reuse_key: starts reading the key of the first usage that holds a
 * certificate (all usages hold the same one, or inspect made the server
 * due without reuse in mind). False when there is nothing to read; the
 * note then says why a new key is made.
 */
static bool reuse_read(struct job *j, struct keygen_work *kw)
{
	char *path;
	int u, rc;

	if (j->tg->renew == NULL || !j->tg->renew->reuse_key)
		return false;
	for (u = 0; u < USAGE_CAP && !((j->tg->usages & (1u << u)) &&
	    j->current[u] != NULL); u++)
		;
	if (u == USAGE_CAP) {
		snprintf(kw->note, sizeof kw->note, "no current certificate");
		return false;
	}
	kw->reuse_cert = j->current[u];
	if ((path = assign_key_path(j->tg->store->certs, &j->tg->bindings[u],
	    usage_name(j->tg->utab, (unsigned)u))) == NULL) {
		snprintf(kw->note, sizeof kw->note, "out of memory");
		return false;
	}
	rc = j->t->ops->read_file(j->t, path, JOB_FILE_MAX, on_reuse_key, kw);
	free(path);
	if (rc != 0)
		snprintf(kw->note, sizeof kw->note, "cannot read the current "
		    "key: %s", cf_strerror(rc));
	return rc == 0;
}

/* The request is durable: the key may be made (a key with no request
 * row would be an orphan the next run sweeps away). */
static void keygen_start(struct job *j, int status, const char *msg)
{
	struct keygen_work *kw;

	if (status != 0) {
		job_failed(j, false, "cannot record a request for '%s' in the "
		    "journal: %s", j->tg->name, msg);
		return;
	}
	if (j->tg->keygen_remote) {
		remote_keygen_start(j);
		return;
	}
	if ((kw = calloc(1, sizeof(*kw))) == NULL) {
		job_failed(j, false, "out of memory");
		return;
	}
	kw->j = j;
	req_spec_init(&kw->spec);
	if (req_spec_copy(&kw->spec, j->tg->spec) != 0 ||
	    (kw->key_path = job_local_key_path(j, j->rq.id)) == NULL) {
		keygen_free(kw);
		job_failed(j, false, "out of memory");
	} else if (!reuse_read(j, kw)) {
		keygen_queue(kw);
	}
}

void job_keygen_enter(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	char msg[256], hash[65];
	int rc;

	report_row_set(&j->row->ca_status, NULL);
	j->rq.run_id = cfg->run_id;
	if (journal_strset(&j->rq.server, j->tg->name) != 0 ||
	    journal_strset(&j->rq.state, job_state_name(JOB_KEYGEN)) != 0 ||
	    job_request_hash(j, hash) != 0 ||
	    journal_strset(&j->rq.request_hash, hash) != 0) {
		job_failed(j, false, "out of memory");
		return;
	}
	rc = cfg->journal ? journal_request_new(cfg->journal, &j->rq, msg,
	    sizeof msg) : 0;
	if (rc != 0 || !job_wait_durable(j, keygen_start))
		keygen_start(j, rc, msg);
}

/* What is read from an issued certificate: its chain parsed, and the
 * leaf's names for the journal. */
struct issued {
	STACK_OF(X509) *certs;
	char thumb[41];
	char sha256[65];
	time_t not_after;
};

/* Reads cert_pem into is (any thread). 0, or CF_ECRYPTO with err. */
static int issued_read(const char *server, const char *cert_pem,
    struct issued *is, char *err, size_t errsz)
{
	char msg[256];
	X509 *leaf;

	is->certs = NULL;
	if (cert_pem == NULL || crypto_certs_from_pem(cert_pem,
	    "the issued certificate", &is->certs, msg, sizeof msg) != 0)
		return cf_error(err, errsz, CF_ECRYPTO, "the CA's answer for "
		    "'%s' holds no certificate", server);
	leaf = sk_X509_value(is->certs, 0);
	crypto_thumbprint(leaf, is->thumb);
	crypto_fingerprint_sha256(leaf, is->sha256);
	is->not_after = 0;
	crypto_cert_not_after(leaf, &is->not_after);
	return 0;
}

/* The job takes what was read: j->certs and the row's thumbprint,
 * fingerprint and expiry. */
static void issued_keep(struct job *j, struct issued *is)
{
	sk_X509_pop_free(j->certs, X509_free);
	j->certs = is->certs;
	is->certs = NULL;
	journal_strset(&j->rq.thumbprint, is->thumb);
	journal_strset(&j->rq.sha256, is->sha256);
	j->rq.not_after = is->not_after;
}

int job_load_issued(struct job *j)
{
	struct issued is;

	if (issued_read(j->tg->name, j->rq.cert_pem, &is, j->error,
	    sizeof j->error) != 0)
		return CF_ECRYPTO;
	issued_keep(j, &is);
	return 0;
}

/* A CA that signed another key than the CSR's must not be trusted with
 * this server (any thread). 0, or CF_ECRYPTO with err. */
static int issued_key_check(const char *server, const char *csr_pem,
    X509 *leaf, char *err, size_t errsz)
{
	X509_REQ *csr = NULL;
	char msg[256];
	bool same;

	/* Our own CSRs and CAs that copy their key: equal bytes, no parse. */
	if (crypto_csr_pem_same_spki(csr_pem, leaf))
		return 0;
	if (crypto_csr_from_pem(csr_pem, "the CSR", &csr, msg,
	    sizeof msg) != 0)
		return cf_error(err, errsz, CF_ECRYPTO, "%s", msg);
	same = crypto_csr_matches_cert(csr, leaf);
	X509_REQ_free(csr);
	if (!same)
		return cf_error(err, errsz, CF_ECRYPTO, "the CA returned a "
		    "certificate for '%s' whose key is not the CSR's", server);
	return 0;
}

/*
 * The issued certificate is read and checked on the threadpool (parsing
 * is the costly part). The job waits in submit or poll meanwhile, so its
 * request is handed over, not copied: nothing on the loop touches it.
 */
struct issued_work {
	uv_work_t work;
	struct job *j;
	struct issued is;
	int rc;
	char err[1200];
};

static void issued_run(uv_work_t *w)
{
	struct issued_work *iw = container_of(w, struct issued_work, work);
	struct job *j = iw->j;

	iw->rc = issued_read(j->tg->name, j->rq.cert_pem, &iw->is, iw->err,
	    sizeof iw->err);
	if (iw->rc == 0)
		iw->rc = issued_key_check(j->tg->name, j->rq.csr_pem,
		    sk_X509_value(iw->is.certs, 0), iw->err, sizeof iw->err);
}

static void issued_after(uv_work_t *w, int status)
{
	struct issued_work *iw = container_of(w, struct issued_work, work);
	struct job *j = iw->j;

	if (status != 0 || iw->rc != 0) {
		job_failed(j, true, "%s", status ? uv_strerror(status) :
		    iw->err);
	} else {
		issued_keep(j, &iw->is);
		job_back(j);
	}
	sk_X509_pop_free(iw->is.certs, X509_free);
	free(iw);
}

static void issued_check(struct job *j)
{
	struct issued_work *iw = calloc(1, sizeof(*iw));

	if (iw == NULL) {
		job_failed(j, false, "out of memory");
		return;
	}
	iw->j = j;
	if (!job_queue(j, &iw->work, issued_run, issued_after,
	    "the check of the issued certificate"))
		free(iw);
}

/* The CA's other chains, kept with the request for the chain check. */
static void keep_alternates(struct job *j, struct ca_reply *r)
{
	json_t *o, *a = json_array();
	size_t i;

	free(j->rq.alt_chains);
	j->rq.alt_chains = NULL;
	if (r->alt_pem == NULL || r->alt_pem[0] == NULL || a == NULL) {
		json_decref(a);
		return;
	}
	for (i = 0; r->alt_pem[i]; i++)
		json_array_append_new(a, json_string(r->alt_pem[i]));
	o = json_pack("{s:b, s:o}", "preferred", r->preferred, "chains", a);
	if (o)
		j->rq.alt_chains = json_dumps(o, JSON_COMPACT);
	json_decref(o);
}

static void on_poll_timer(uv_timer_t *t)
{
	struct job *j = container_of(t, struct job, timer);

	j->waited = true;
	job_back(j);
}

/*
 * Pending: ask again after the CA's retry-after, counting the wait from
 * the first pending of this run; past max_wait_s (or when the CA says not
 * in this run) the server stays pending for the next run.
 */
void job_wait_enter(struct job *j)
{
	uint64_t now = uv_now(j->loop);

	j->waited = false;
	if (j->pending_since == 0)
		j->pending_since = now;
	if (j->retry_after < 0 || (now - j->pending_since) / 1000 +
	    (uint64_t)j->retry_after > (uint64_t)j->cfg->max_wait_s) {
		job_back(j);
		return;
	}
	j->error[0] = '\0';
	uv_timer_start(&j->timer, on_poll_timer,
	    (uint64_t)j->retry_after * 1000, 0);
}

static void on_reply(void *arg, struct ca_reply *r)
{
	struct job *j = arg;

	if (r->ref)
		journal_strset(&j->rq.ca_ref, r->ref);
	journal_strset(&j->rq.ca_status, r->status_text);
	report_row_set(&j->row->ca_status, r->status_text);
	j->answer = r->answer;
	switch (r->answer) {
	case CA_ISSUED:
		j->rq.cert_pem = r->cert_pem;
		r->cert_pem = NULL;
		keep_alternates(j, r);
		issued_check(j);
		return;
	case CA_PENDING:
		/* Shown if the run leaves it pending. */
		snprintf(j->error, sizeof j->error, "%s",
		    r->detail ? r->detail : "");
		j->retry_after = r->retry_after;
		break;
	case CA_DENIED:
		snprintf(j->error, sizeof j->error, "denied by the CA: %s",
		    r->detail ? r->detail : "no reason given");
		journal_strset(&j->rq.error, j->error);
		break;
	case CA_ERROR:
		job_failed(j, false, "the CA failed for '%s': %s",
		    j->tg->name, r->detail ? r->detail : "no reason given");
		return;
	}
	job_back(j);
}

/* The publisher the CA driver writes http-01 files through: below the
 * server's webroot, by its own transport. */
static char *webroot_path(struct job *j, const char *rel)
{
	return cf_asprintf("%s/%s", j->tg->webroot, rel);
}

static int publish_put(void *ctx, const char *rel, const char *data,
    size_t len, ca_done_cb cb, void *arg)
{
	struct job *j = ctx;
	char *path = webroot_path(j, rel);
	int rc;

	if (path == NULL)
		return CF_ENOMEM;
	/* World-readable: the web server serves it to the CA. */
	rc = j->t->ops->write_file(j->t, path, data, len, 0644, cb, arg);
	free(path);
	return rc;
}

static int publish_remove(void *ctx, const char *rel, ca_done_cb cb,
    void *arg)
{
	struct job *j = ctx;
	char *path = webroot_path(j, rel);
	int rc;

	if (path == NULL)
		return CF_ENOMEM;
	rc = j->t->ops->remove(j->t, path, cb, arg);
	free(path);
	return rc;
}

/* A status the CA reported on the way: the row's ca_status and an event,
 * the job's state unchanged. */
static void ca_note(void *ctx, const char *status_text)
{
	struct job *j = ctx;

	if (status_text == NULL || (j->rq.ca_status &&
	    strcmp(j->rq.ca_status, status_text) == 0))
		return;
	journal_strset(&j->rq.ca_status, status_text);
	report_row_set(&j->row->ca_status, status_text);
	/* A failed event write is not worth the request: the reply's own
	 * transition is journaled (and checked) next. */
	job_note(j, NULL);
}

/* In SUBMIT: send the CSR. In POLL: ask about the request
 * the CA already holds; with no handle yet (killed before the CA
 * answered) send the same CSR again. */
void job_ask_enter(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	struct ca_request req = { j->tg->name, j->rq.csr_pem, j->tg->spec,
	    j->rq.ca_ref, false, { NULL, NULL, NULL, NULL }, NULL,
	    j->tg->approval };
	int u;
	char msg[256];
	int rc;

	/* Approval is written by 'certfleet approve', perhaps while this run
	 * holds the request: read it as it is now. */
	if (cfg->journal != NULL && j->rq.id != 0 &&
	    journal_request_approved(cfg->journal, j->rq.id, &j->rq.approved,
	    msg, sizeof msg) != 0) {
		job_failed(j, false, "%s", msg);
		return;
	}
	req.approved = j->rq.approved != 0;
	/* A renewal names what it renews (a resumed job read nothing). */
	for (u = 0; u < USAGE_CAP && req.previous_pem == NULL; u++)
		req.previous_pem = j->current[u];
	j->rq.attempts++;
	req.hooks.note = ca_note;
	req.hooks.ctx = j;
	if (j->tg->webroot) {
		req.hooks.put = publish_put;
		req.hooks.remove = publish_remove;
	}
	if (j->state == JOB_POLL && j->rq.ca_ref != NULL)
		rc = cfg->ca->ops->poll(cfg->ca, &req, on_reply, j);
	else
		rc = cfg->ca->ops->submit(cfg->ca, &req, on_reply, j);
	if (rc != 0)
		job_failed(j, false, "cannot send the request for '%s' to the "
		    "CA: %s", j->tg->name, cf_strerror(rc));
}
