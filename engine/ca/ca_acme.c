/*
 * The ACME driver's shared half: the account key, the directory, the
 * account (found again by its key, else created), the nonce pool, and
 * the signed POST every step goes through, badNonce retries included.
 */
#include "engine/ca/ca_acme.h"
#include "engine/ca/ca_acme_int.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/acme/jws.h"
#include "engine/base/strv.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- replies and failures ---- */

/* The strike counter of op's server; NULL when op has no server or
 * memory runs out. */
static struct acme_strikes *strikes_of(struct acme_op *op)
{
	struct ca_acme *a = op->a;
	struct acme_strikes *k;

	if (op->server == NULL)
		return NULL;
	for (k = a->strikes; k; k = k->next)
		if (strcmp(k->server, op->server) == 0)
			return k;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->server = strdup(op->server)) == NULL) {
		free(k);
		return NULL;
	}
	k->next = a->strikes;
	a->strikes = k;
	return k;
}

static void acme_op_free(struct acme_op *op)
{
	size_t i;

	free(op->server);
	free(op->csr_pem);
	strv_free(op->sans);
	free(op->ref);
	free(op->url);
	free(op->payload);
	acme_order_release(&op->order);
	free(op->token_rel);
	free(op->challenge_url);
	for (i = 0; i < op->nchains; i++)
		free(op->chains[i]);
	for (i = 0; i < op->nalt_urls; i++)
		free(op->alt_urls[i]);
	op->a->ops--;
	free(op);
}

void acme_reply(struct acme_op *op, enum ca_answer answer,
    const char *status_text, const char *detail, int retry_after)
{
	struct ca_reply r = { .answer = answer, .ref = dup_or_null(op->ref),
	    .status_text = dup_or_null(status_text),
	    .detail = dup_or_null(detail), .retry_after = retry_after };
	struct acme_strikes *k;

	if (!op->strike && (k = strikes_of(op)) != NULL)
		k->n = 0;
	if (answer == CA_ISSUED && op->nchains > 0) {
		r.cert_pem = op->chains[0];
		op->chains[0] = NULL;
		r.preferred = op->preferred;
		if (op->nchains > 1 &&
		    (r.alt_pem = calloc(op->nchains, sizeof(char *))) != NULL) {
			memcpy(r.alt_pem, op->chains + 1,
			    (op->nchains - 1) * sizeof(char *));
			memset(op->chains + 1, 0,
			    (op->nchains - 1) * sizeof(char *));
		}
	}
	op->cb(op->arg, &r);
	ca_reply_release(&r);
	acme_op_free(op);
}

/*
 * Reads the problem document in resp: the CA's word for it into word
 * ("rateLimited"; "HTTP <status>" for anything but an ACME error), and
 * its text for a person into buf ("HTTP <status> from <url>" without
 * a document).
 */
static void resp_explain(const struct http_resp *resp, char word[64],
    char *buf, size_t bufsz)
{
	size_t n = strlen(ACME_ERROR_PREFIX);
	struct acme_problem p = { 0 };
	char msg[256];

	if (resp->body_len > 0 && acme_problem_parse(resp->body,
	    resp->body_len, &p, msg, sizeof msg) == 0) {
		acme_problem_describe(&p, buf, bufsz);
	} else {
		acme_problem_release(&p);
		snprintf(buf, bufsz, "HTTP %ld from %s", resp->status,
		    resp->url);
	}
	if (p.type && strncmp(p.type, ACME_ERROR_PREFIX, n) == 0)
		snprintf(word, 64, "%s", p.type + n);
	else
		snprintf(word, 64, "HTTP %ld", resp->status);
	acme_problem_release(&p);
}

void acme_refused(struct acme_op *op, const struct http_resp *resp,
    const char *what, enum ca_answer answer)
{
	char buf[1100], detail[1400], text[64];

	resp_explain(resp, text, buf, sizeof buf);
	snprintf(detail, sizeof detail, "%s: %s", what, buf);
	acme_reply(op, answer, text, detail, -1);
}

int acme_retry_of(const struct http_resp *resp)
{
	int s;

	if (resp->retry_after &&
	    http_retry_after(resp->retry_after, time(NULL), &s) == 0)
		return s > 0 ? s : 1;
	return -1;
}

/* The back-off for a transient failure (counted as a strike): Retry-After
 * when the server sent one, else exponential in the strikes with jitter. */
static int backoff(struct acme_op *op, const struct http_resp *resp)
{
	struct acme_strikes *k = strikes_of(op);
	int s, n = k ? k->n++ : 0;
	double base;

	op->strike = true;
	if (resp != NULL && (s = acme_retry_of(resp)) > 0)
		return s;
	base = n >= 8 ? ACME_BACKOFF_MAX : (double)(1 << n);
	if (base > ACME_BACKOFF_MAX)
		base = ACME_BACKOFF_MAX;
	/* Jitter, so a pool of servers told "slow down" does not come
	 * back in one burst. */
	s = (int)(base * (0.5 + (double)(fsio_random64() % 1000) / 1000.0));
	return s > 0 ? s : 1;
}

bool acme_failed(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg, const char *what, const char *refusal,
    enum ca_answer answer)
{
	char buf[1400], detail[1600], text[64];

	if (status == CF_EIO || status == CF_ETIMEDOUT) {
		/* The network, not the CA: the order (if any) stays. */
		snprintf(detail, sizeof detail, "%s: %s; asking again later",
		    what, msg);
		acme_reply(op, CA_PENDING, "unreachable", detail,
		    backoff(op, NULL));
		return true;
	}
	if (status != 0) {
		snprintf(detail, sizeof detail, "%s: %s", what, msg);
		acme_reply(op, CA_ERROR, status == CF_EINVAL ?
		    "malformed response" : "error", detail, -1);
		return true;
	}
	if (resp->status < 500 && resp->status != 429) {
		if (refusal == NULL || resp->status == 200)
			return false;
		acme_refused(op, resp, refusal, answer);
		return true;
	}
	resp_explain(resp, text, buf, sizeof buf);
	snprintf(detail, sizeof detail, "%s: %s; asking again later", what,
	    buf);
	acme_reply(op, CA_PENDING, text, detail, backoff(op, resp));
	return true;
}

/* ---- nonces and signed requests ---- */

static void nonce_keep(struct ca_acme *a, struct http_resp *resp)
{
	if (resp == NULL || !acme_nonce_valid(resp->replay_nonce))
		return;
	if (a->nnonces == ACME_NONCE_POOL) {
		free(a->nonces[0]);
		memmove(a->nonces, a->nonces + 1,
		    (ACME_NONCE_POOL - 1) * sizeof(char *));
		a->nnonces--;
	}
	a->nonces[a->nnonces++] = resp->replay_nonce;
	resp->replay_nonce = NULL;
}

static void post_send(struct acme_op *op);

static void on_post(void *arg, int status, struct http_resp *resp,
    const char *msg)
{
	struct acme_op *op = arg;
	char buf[256], word[64];
	bool bad_nonce = false;

	if (status == 0) {
		nonce_keep(op->a, resp);
		if (resp->status == 400) {
			resp_explain(resp, word, buf, sizeof buf);
			bad_nonce = strcmp(word, "badNonce") == 0;
		}
	}
	/* The CA refused the nonce, not the request: the same request with
	 * a fresh nonce, a bounded number of times. */
	if (bad_nonce && ++op->nonce_tries < ACME_BADNONCE_TRIES)
		post_send(op);
	else
		op->next(op, status, resp, msg);
}

static void on_new_nonce(void *arg, int status, struct http_resp *resp,
    const char *msg)
{
	struct acme_op *op = arg;

	if (status == 0)
		nonce_keep(op->a, resp);
	if (op->a->nnonces > 0)
		post_send(op);
	else if (status == 0 && resp->status >= 400)
		/* The step judges the refusal (5xx, 429...) as its own. */
		op->next(op, 0, resp, msg);
	else
		op->next(op, status != 0 ? status : CF_EIO, NULL, status != 0 ?
		    msg : "the ACME server sent no Replay-Nonce");
}

static void post_send(struct acme_op *op)
{
	struct ca_acme *a = op->a;
	struct jws_header h = { .url = op->url, .kid = op->use_jwk ? NULL :
	    a->kid };
	struct http_req req = { .method = HTTP_HEAD, .url = a->dir.new_nonce };
	char *body = NULL, *nonce, msg[256];
	int rc;

	if (a->nnonces == 0) {
		if (http_request(&a->http, &req, on_new_nonce, op, msg,
		    sizeof msg) != 0)
			op->next(op, CF_EIO, NULL, msg);
		return;
	}
	h.nonce = nonce = a->nonces[--a->nnonces];
	rc = jws_sign(a->key, &h, op->payload, &body, msg, sizeof msg);
	free(nonce);
	if (rc == 0) {
		req = (struct http_req){ .method = HTTP_POST, .url = op->url,
		    .content_type = ACME_JOSE_JSON, .body = body };
		rc = http_request(&a->http, &req, on_post, op, msg,
		    sizeof msg);
	}
	free(body);
	if (rc != 0)
		op->next(op, rc, NULL, msg);
}

void acme_post(struct acme_op *op, const char *url, const char *payload,
    acme_step next)
{
	char *u, *p;

	/* Every request to the CA goes over verified TLS, whatever URL the
	 * CA hands out. */
	if (strncasecmp(url, "https://", 8) != 0) {
		char msg[600];

		snprintf(msg, sizeof msg, "the ACME server handed out '%.500s', "
		    "which is not an https:// URL", url);
		next(op, CF_EINVAL, NULL, msg);
		return;
	}
	u = strdup(url);
	p = payload ? strdup(payload) : NULL;

	free(op->url);
	free(op->payload);
	op->url = u;
	op->payload = p;
	op->nonce_tries = 0;
	op->next = next;
	if (u == NULL || (payload && p == NULL)) {
		op->next(op, CF_ENOMEM, NULL, "out of memory");
		return;
	}
	post_send(op);
}

/* ---- the account ---- */

/* An op's first step once the account is ready. */
static void op_go(struct acme_op *op)
{
	if (op->submit)
		acme_order_open(op);
	else
		acme_order_poll(op);
}

static void account_done(struct ca_acme *a, const char *err)
{
	struct acme_op *op, *next;

	a->account = err ? ACME_ACCOUNT_NONE : ACME_ACCOUNT_READY;
	op = a->waiting;
	a->waiting = NULL;
	for (; op; op = next) {
		next = op->next_waiting;
		if (err)
			acme_reply(op, CA_ERROR, "no account", err, -1);
		else
			op_go(op);
	}
}

/* The account op replies to nobody: it ends by waking the waiters. */
static void account_end(struct acme_op *op, const char *err)
{
	struct ca_acme *a = op->a;

	acme_op_free(op);
	account_done(a, err);
}

static void on_account(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg);

static void account_create(struct acme_op *op)
{
	struct ca_acme *a = op->a;
	json_t *eab = NULL;
	char *payload = NULL, m[256], err[512];
	int rc;

	if (a->dir.eab_required && a->eab_kid == NULL) {
		account_end(op, "the ACME server requires external account "
		    "binding: set ca.eab = { kid = \"...\"; hmac_key = "
		    "\"...\"; }");
		return;
	}
	if (a->eab_kid && jws_eab(a->key, a->eab_kid, a->eab_hmac_key,
	    a->dir.new_account, &eab, m, sizeof m) != 0) {
		snprintf(err, sizeof err, "external account binding: %s", m);
		account_end(op, err);
		return;
	}
	/* Creating the account agrees to the CA's terms of service, as
	 * certbot --agree-tos and lego --accept-tos do. */
	rc = acme_new_account_payload((const char *const *)a->contact,
	    a->ncontact, true, false, eab, &payload, m, sizeof m);
	json_decref(eab);
	if (rc != 0) {
		account_end(op, m);
		return;
	}
	op->submit = true;          /* marks the creating request */
	acme_post(op, a->dir.new_account, payload, on_account);
	free(payload);
}

static void on_account(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg)
{
	struct ca_acme *a = op->a;
	char buf[1100], err[1300], word[64];

	if (status != 0) {
		snprintf(err, sizeof err, "cannot reach the ACME server for the "
		    "account: %s", msg);
		account_end(op, err);
		return;
	}
	if ((resp->status == 200 || resp->status == 201) && resp->location) {
		free(a->kid);
		a->kid = resp->location;
		resp->location = NULL;
		account_end(op, NULL);
		return;
	}
	resp_explain(resp, word, buf, sizeof buf);
	if (!op->submit && strcmp(word, "accountDoesNotExist") == 0) {
		account_create(op);
		return;
	}
	snprintf(err, sizeof err, "the ACME server refused the account: %s",
	    buf);
	account_end(op, err);
}

static void on_directory(void *arg, int status, struct http_resp *resp,
    const char *msg)
{
	struct acme_op *op = arg;
	struct ca_acme *a = op->a;
	char *payload = NULL, m[256], err[600];

	if (status != 0 || resp->status != 200) {
		if (status == 0)
			snprintf(m, sizeof m, "HTTP %ld", resp->status);
		snprintf(err, sizeof err, "cannot read the ACME directory %s: "
		    "%s", a->directory_url, status != 0 ? msg : m);
		account_end(op, err);
		return;
	}
	acme_directory_release(&a->dir);
	if (acme_directory_parse(resp->body, resp->body_len, &a->dir, m,
	    sizeof m) != 0) {
		snprintf(err, sizeof err, "%s (from %s)", m, a->directory_url);
		account_end(op, err);
		return;
	}
	if (strncasecmp(a->dir.new_nonce, "https://", 8) != 0) {
		snprintf(err, sizeof err, "the ACME directory %s names a "
		    "newNonce URL that is not https://", a->directory_url);
		account_end(op, err);
		return;
	}
	/* Found again by its key: onlyReturnExisting never creates one. */
	if (acme_new_account_payload(NULL, 0, false, true, NULL, &payload, m,
	    sizeof m) != 0) {
		account_end(op, m);
		return;
	}
	op->use_jwk = true;
	acme_post(op, a->dir.new_account, payload, on_account);
	free(payload);
}

static struct acme_op *op_new(struct ca_acme *a)
{
	struct acme_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->a = a;
	op->retry_after = -1;
	a->ops++;
	return op;
}

/* Queues op until the account is ready, starting the set-up if needed. */
static int account_wait(struct ca_acme *a, struct acme_op *op)
{
	struct http_req req = { .method = HTTP_GET, .url = a->directory_url };
	struct acme_op *acct;
	char msg[256];

	op->next_waiting = a->waiting;
	a->waiting = op;
	if (a->account == ACME_ACCOUNT_WORKING)
		return 0;
	if ((acct = op_new(a)) == NULL) {
		a->waiting = op->next_waiting;
		return CF_ENOMEM;
	}
	a->account = ACME_ACCOUNT_WORKING;
	if (http_request(&a->http, &req, on_directory, acct, msg,
	    sizeof msg) != 0) {
		a->waiting = op->next_waiting;
		a->account = ACME_ACCOUNT_NONE;
		acme_op_free(acct);
		return CF_EIO;
	}
	return 0;
}

/* ---- the driver interface ---- */

static int start(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg, bool submit)
{
	struct ca_acme *a = (struct ca_acme *)ca;
	struct acme_op *op = op_new(a);
	size_t i;
	int rc;

	if (op == NULL)
		return CF_ENOMEM;
	op->cb = cb;
	op->arg = arg;
	op->submit = submit;
	op->hooks = req->hooks;
	op->server = strdup(req->server);
	op->csr_pem = dup_or_null(req->csr_pem);
	op->ref = submit ? NULL : dup_or_null(req->ref);
	op->sans = calloc(req->spec->nsan + 1, sizeof(char *));
	for (i = 0; op->sans && i < req->spec->nsan; i++)
		if ((op->sans[op->nsan++] = strdup(req->spec->san[i])) == NULL)
			break;
	if (op->server == NULL || op->sans == NULL ||
	    op->nsan != req->spec->nsan || (req->csr_pem && !op->csr_pem) ||
	    (!submit && op->ref == NULL)) {
		acme_op_free(op);
		return submit || req->ref ? CF_ENOMEM : CF_EINVAL;
	}
	if (a->account == ACME_ACCOUNT_READY) {
		/* Replies always come from the loop, never from inside
		 * submit: both first steps go through http_request. */
		op_go(op);
		return 0;
	}
	if ((rc = account_wait(a, op)) != 0)
		acme_op_free(op);
	return rc;
}

static int acme_submit(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return start(ca, req, cb, arg, true);
}

static int acme_poll(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return start(ca, req, cb, arg, false);
}

static int acme_chain_pem(struct ca_driver *ca, char **out, char *msg,
    size_t msgsz)
{
	/* An ACME CA sends its chain with each certificate: none ahead. */
	(void)ca;
	(void)msg;
	(void)msgsz;
	*out = NULL;
	return 0;
}

static void on_http_closed(struct http *h)
{
	free(container_of(h, struct ca_acme, http));
}

static void acme_free(struct ca_driver *ca)
{
	struct ca_acme *a = (struct ca_acme *)ca;
	size_t i;

	EVP_PKEY_free(a->key);
	free(a->thumbprint);
	free(a->directory_url);
	strv_free(a->contact);
	free(a->eab_kid);
	crypto_secret_free(a->eab_hmac_key, 0);
	free(a->preferred_chain);
	acme_directory_release(&a->dir);
	free(a->kid);
	for (i = 0; i < a->nnonces; i++)
		free(a->nonces[i]);
	while (a->strikes) {
		struct acme_strikes *k = a->strikes;

		a->strikes = k->next;
		free(k->server);
		free(k);
	}
	while (a->files)
		acme_files_drop(a, a->files->order);
	if (a->http_open) {
		/* Ends on the loop, which the caller runs after free. */
		http_close(&a->http, on_http_closed);
		return;
	}
	free(a);
}

static const struct ca_ops acme_ops = {
	.submit = acme_submit,
	.poll = acme_poll,
	.chain_pem = acme_chain_pem,
	.free = acme_free,
};

/* Loads the account key from path; CF_ENOENT (no message) when none. */
static int account_key_read(const char *path, EVP_PKEY **out, char *msg,
    size_t msgsz)
{
	char *pem = NULL, m[256];
	size_t len = 0;
	int rc;

	rc = fsio_read_file(path, 64 * 1024, &pem, &len, m, sizeof m);
	if (rc == 0) {
		rc = crypto_key_from_pem(pem, path, out, msg, msgsz);
		crypto_secret_free(pem, len + 1);
		return rc;
	}
	return rc == CF_ENOENT ? rc : cf_error(msg, msgsz, rc, "cannot read "
	    "the ACME account key: %s", m);
}

/*
 * Loads the account key, or makes an ES256 one, 0600 from the start. It
 * is only ever created, never replaced: shards started together on one
 * controller (--shard) all find none, and the first to write it is the
 * account every one of them uses; an order made under a key that was
 * then replaced could never be polled again.
 */
static int account_key(const char *path, EVP_PKEY **out, char *msg,
    size_t msgsz)
{
	struct key_spec ks = { 0 };
	char *pem = NULL, m[256];
	size_t len = 0;
	int rc;

	if ((rc = account_key_read(path, out, msg, msgsz)) != CF_ENOENT)
		return rc;
	if ((rc = key_spec_set(&ks, "ec", "P-256", 0, msg, msgsz)) != 0 ||
	    (rc = crypto_keygen(&ks, out, msg, msgsz)) != 0)
		return rc;
	if ((rc = crypto_key_to_pem(*out, &pem, &len, msg, msgsz)) == 0) {
		rc = fsio_write_new(path, pem, len, 0600, m, sizeof m);
		if (rc != 0 && rc != CF_EEXIST)
			cf_error(msg, msgsz, rc, "cannot write the ACME account "
			    "key: %s", m);
		crypto_secret_free(pem, len);
	}
	if (rc != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	/* Another process made it first: its key is the account. */
	if (rc == CF_EEXIST && (rc = account_key_read(path, out, msg,
	    msgsz)) == CF_ENOENT)
		rc = cf_error(msg, msgsz, CF_EIO, "the ACME account key '%s' "
		    "was removed while it was made", path);
	return rc;
}

int ca_acme_new(uv_loop_t *loop, const struct ca_acme_config *cfg,
    struct ca_driver **out, char *msg, size_t msgsz)
{
	struct ca_acme *a = calloc(1, sizeof(*a));
	struct http_config hc = { .ca_file = cfg->tls_ca_file,
	    .max_in_flight = cfg->max_in_flight > 0 ? cfg->max_in_flight : 8,
	    .user_agent = "certfleet" };
	enum jws_alg alg;
	size_t i;
	int rc;

	*out = NULL;
	if (a == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	a->base.ops = &acme_ops;
	a->base.type = "acme";
	a->loop = loop;
	if ((rc = account_key(cfg->account_key, &a->key, msg, msgsz)) != 0 ||
	    (rc = jws_alg_of(a->key, &alg, msg, msgsz)) != 0 ||
	    (rc = jws_thumbprint(a->key, &a->thumbprint, msg, msgsz)) != 0)
		goto fail;
	rc = CF_ENOMEM;
	a->directory_url = strdup(cfg->directory);
	a->base.id = a->directory_url;
	a->contact = calloc(cfg->ncontact + 1, sizeof(char *));
	for (i = 0; a->contact && i < cfg->ncontact; i++)
		if ((a->contact[i] = strdup(cfg->contact[i])) == NULL)
			goto nomem;
	a->ncontact = cfg->ncontact;
	a->eab_kid = dup_or_null(cfg->eab_kid);
	a->eab_hmac_key = dup_or_null(cfg->eab_hmac_key);
	a->preferred_chain = dup_or_null(cfg->preferred_chain);
	if (a->directory_url == NULL || a->contact == NULL ||
	    (cfg->eab_kid && (!a->eab_kid || !a->eab_hmac_key)) ||
	    (cfg->preferred_chain && !a->preferred_chain))
		goto nomem;
	if ((rc = http_init(&a->http, loop, &hc, msg, msgsz)) != 0)
		goto fail;
	a->http_open = true;
	*out = &a->base;
	return 0;
nomem:
	cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
fail:
	acme_free(&a->base);
	return rc;
}

/* True when name's common name is cn. */
static bool cn_is(const X509_NAME *name, const char *cn)
{
	char buf[256];

	return X509_NAME_get_text_by_NID(name, NID_commonName, buf,
	    sizeof buf) > 0 && strcmp(buf, cn) == 0;
}

bool ca_acme_chain_matches(const char *chain_pem, const char *cn)
{
	STACK_OF(X509) *certs = NULL;
	char msg[128];
	bool match;
	int i;

	if (cn == NULL || crypto_certs_from_pem(chain_pem, "a chain", &certs,
	    msg, sizeof msg) != 0)
		return false;
	match = cn_is(X509_get_issuer_name(sk_X509_value(certs,
	    sk_X509_num(certs) - 1)), cn);
	for (i = 1; !match && i < sk_X509_num(certs); i++)
		match = cn_is(X509_get_subject_name(sk_X509_value(certs, i)),
		    cn);
	sk_X509_pop_free(certs, X509_free);
	return match;
}
