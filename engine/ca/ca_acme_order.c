/*
 * One server's order, a step per poll: newOrder (submit), then on each
 * poll the order's state decides: pending answers its authorizations
 * (http-01 file through the publisher, then the challenge), ready is
 * finalized with the CSR, valid is downloaded with every alternate
 * chain, invalid is denied with the CA's reason. Each answer names the
 * order's state, which the engine journals.
 */
#include "engine/ca/ca_acme.h"
#include "engine/ca/ca_acme_int.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/acme/jws.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHALLENGE_DIR ".well-known/acme-challenge/"

/* Tells the engine a status the CA reported on the way (journaled). */
static void note_status(struct acme_op *op, const char *status_text)
{
	if (op->hooks.note != NULL)
		op->hooks.note(op->hooks.ctx, status_text);
}

static void malformed(struct acme_op *op, const char *msg)
{
	char detail[600];

	snprintf(detail, sizeof detail, "%s (from %s)", msg, op->url);
	acme_reply(op, CA_ERROR, "malformed response", detail, -1);
}

/* Parses the order in resp into *o (released by the caller on true) and,
 * with note, journals its status (a reply about to carry it need not);
 * false when malformed (op has replied). */
static bool read_order(struct acme_op *op, struct http_resp *resp,
    struct acme_order *o, bool note)
{
	char m[256];

	if (acme_order_parse(resp->body, resp->body_len, o, m,
	    sizeof m) != 0) {
		acme_order_release(o);
		malformed(op, m);
		return false;
	}
	snprintf(m, sizeof m, "order %s", acme_status_name(o->status));
	if (note)
		note_status(op, m);
	return true;
}

/* A short wait inside the op (the timer's data), then the order is read
 * again. */
static void on_delay_closed(uv_handle_t *h)
{
	free(h);
}

static void on_delay(uv_timer_t *t)
{
	struct acme_op *op = t->data;

	uv_close((uv_handle_t *)t, on_delay_closed);
	acme_order_poll(op);
}

/*
 * The order moves on by itself (validation, issuance) and the CA gave no
 * Retry-After: look again shortly within this poll, waiting twice as long
 * each time, before handing the wait to the engine in whole seconds.
 * Pebble and most CAs finish these steps in well under a second.
 */
static void wait_or_reply(struct acme_op *op, const char *text,
    const char *detail, int retry)
{
	uv_timer_t *t;

	if (retry < 0 && op->quick < ACME_QUICK_LOOKS &&
	    (t = calloc(1, sizeof(*t))) != NULL) {
		if (uv_timer_init(op->a->loop, t) == 0) {
			t->data = op;
			uv_timer_start(t, on_delay,
			    (uint64_t)ACME_QUICK_MS << op->quick++, 0);
			return;
		}
		free(t);
	}
	acme_reply(op, CA_PENDING, text, detail, retry > 0 ? retry : 1);
}

/* ---- http-01 files ---- */

static struct acme_files *files_of(struct ca_acme *a, const char *order,
    bool create)
{
	struct acme_files *f;

	for (f = a->files; f; f = f->next)
		if (strcmp(f->order, order) == 0)
			return f;
	if (!create || (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if ((f->order = strdup(order)) == NULL) {
		free(f);
		return NULL;
	}
	f->next = a->files;
	a->files = f;
	return f;
}

static void files_note(struct ca_acme *a, const char *order, const char *rel)
{
	struct acme_files *f = files_of(a, order, true);
	char **v;
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		if (strcmp(f->rel[i], rel) == 0)
			return;
	if ((v = realloc(f->rel, (f->n + 2) * sizeof(char *))) == NULL)
		return;
	f->rel = v;
	if ((v[f->n] = strdup(rel)) != NULL)
		f->n++;
	v[f->n] = NULL;
}

void acme_files_drop(struct ca_acme *a, const char *order)
{
	struct acme_files **pp, *f;

	for (pp = &a->files; (f = *pp) != NULL; pp = &f->next)
		if (strcmp(f->order, order) == 0) {
			*pp = f->next;
			free(f->order);
			strv_free(f->rel);
			free(f);
			return;
		}
}

static void clean_next(struct acme_op *op);

static void on_removed(void *arg, int status, const char *msg)
{
	(void)status;
	(void)msg;
	/* A token file left behind is harmless; the order goes on. */
	clean_next(arg);
}

/* Removes the order's http-01 files one by one, then runs after_clean. */
static void clean_next(struct acme_op *op)
{
	struct acme_files *f = files_of(op->a, op->ref, false);

	while (f && op->hooks.remove && op->file_i < f->n) {
		if (op->hooks.remove(op->hooks.ctx, f->rel[op->file_i++],
		    on_removed, op) == 0)
			return;
	}
	acme_files_drop(op->a, op->ref);
	op->after_clean(op);
}

static void clean_then(struct acme_op *op,
    void (*next)(struct acme_op *op))
{
	op->file_i = 0;
	op->after_clean = next;
	clean_next(op);
}

/* ---- opening an order (submit) ---- */

static void on_new_order(struct acme_op *op, int status,
    struct http_resp *resp, const char *msg)
{
	struct acme_order o;
	char text[64];

	if (acme_failed(op, status, resp, msg, "cannot open an order", NULL,
	    CA_DENIED))
		return;
	if (resp->status != 201 && resp->status != 200) {
		acme_refused(op, resp, "the ACME server refused the order",
		    CA_DENIED);
		return;
	}
	if (resp->location == NULL) {
		malformed(op, "the new order has no Location");
		return;
	}
	if (!read_order(op, resp, &o, false))
		return;
	snprintf(text, sizeof text, "order %s", acme_status_name(o.status));
	acme_order_release(&o);
	op->ref = resp->location;
	resp->location = NULL;
	/* Pending at once: the engine journals the order URL before
	 * anything waits on it; the next poll moves it on. */
	acme_reply(op, CA_PENDING, text, NULL, 0);
}

void acme_order_open(struct acme_op *op)
{
	char *payload = NULL, m[256];

	if (acme_new_order_payload(op->sans, op->nsan, &payload, m,
	    sizeof m) != 0) {
		acme_reply(op, CA_ERROR, "no order", m, -1);
		return;
	}
	acme_post(op, op->a->dir.new_order, payload, on_new_order);
	free(payload);
}

/* ---- downloading the certificate and its alternates ---- */

static void download_next(struct acme_op *op);

static void on_certificate(struct acme_op *op, int status,
    struct http_resp *resp, const char *msg)
{
	STACK_OF(X509) *certs = NULL;
	char m[256];
	size_t i;

	/* The CA has issued: a broken download (truncated, reset) is asked
	 * again later, never turned into a second order. */
	if (acme_failed(op, status, resp, msg, "cannot download the "
	    "certificate", "cannot download the certificate", CA_ERROR))
		return;
	if (crypto_certs_from_pem(resp->body, "the certificate download",
	    &certs, m, sizeof m) != 0) {
		malformed(op, m);
		return;
	}
	sk_X509_pop_free(certs, X509_free);
	op->chains[op->nchains] = resp->body;
	resp->body = NULL;
	if (op->nchains++ == 0)
		for (i = 0; i < resp->nlinks &&
		    op->nalt_urls < ACME_MAX_ALTERNATES; i++)
			if (strcmp(resp->links[i].rel, "alternate") == 0 &&
			    (op->alt_urls[op->nalt_urls] =
			    strdup(resp->links[i].url)) != NULL)
				op->nalt_urls++;
	download_next(op);
}

static void download_next(struct acme_op *op)
{
	size_t i;

	/* The certificate, then each alternate chain it links to. */
	if (op->nchains == 0 || op->nchains - 1 < op->nalt_urls) {
		acme_post(op, op->nchains == 0 ? op->order.certificate :
		    op->alt_urls[op->nchains - 1], NULL, on_certificate);
		return;
	}
	/* The preferred chain first; the engine tries the rest in order
	 * against the server's own stores. */
	for (i = 0; op->a->preferred_chain && i < op->nchains; i++)
		if (ca_acme_chain_matches(op->chains[i],
		    op->a->preferred_chain)) {
			char *t = op->chains[0];

			op->chains[0] = op->chains[i];
			op->chains[i] = t;
			op->preferred = true;
			break;
		}
	acme_reply(op, CA_ISSUED, "order valid", NULL, -1);
}

/* ---- finalize ---- */

static void on_finalize(struct acme_op *op, int status,
    struct http_resp *resp, const char *msg)
{
	struct acme_order o;
	char text[64];

	if (acme_failed(op, status, resp, msg, "cannot finalize the order",
	    "the ACME server refused the CSR", CA_DENIED))
		return;
	if (!read_order(op, resp, &o, true))
		return;
	if (o.status == ACME_VALID && o.certificate) {
		acme_order_release(&op->order);
		op->order = o;
		download_next(op);
		return;
	}
	snprintf(text, sizeof text, "order %s", acme_status_name(o.status));
	acme_order_release(&o);
	wait_or_reply(op, text, NULL, acme_retry_of(resp));
}

static void finalize(struct acme_op *op)
{
	X509_REQ *csr = NULL;
	unsigned char *der = NULL;
	char *payload = NULL, m[256];
	bool ok;
	int len;

	ok = op->csr_pem != NULL && crypto_csr_from_pem(op->csr_pem,
	    "the CSR", &csr, m, sizeof m) == 0 &&
	    (len = i2d_X509_REQ(csr, &der)) > 0 &&
	    acme_finalize_payload(der, (size_t)len, &payload, m, sizeof m) == 0;
	X509_REQ_free(csr);
	OPENSSL_free(der);
	if (ok)
		acme_post(op, op->order.finalize, payload, on_finalize);
	else
		acme_reply(op, CA_ERROR, "order ready", op->csr_pem ? m :
		    "no CSR to finalize the order with", -1);
	free(payload);
}

/* ---- authorizations ---- */

static void authz_next(struct acme_op *op);

static void on_challenge(struct acme_op *op, int status,
    struct http_resp *resp, const char *msg)
{
	if (acme_failed(op, status, resp, msg, "cannot answer the challenge",
	    "the ACME server refused the challenge answer", CA_DENIED))
		return;
	op->authz_i++;
	authz_next(op);
}

static void on_published(void *arg, int status, const char *msg)
{
	struct acme_op *op = arg;
	char detail[700];

	if (status != 0) {
		snprintf(detail, sizeof detail, "cannot write the http-01 "
		    "file on '%s': %s", op->server, msg);
		acme_reply(op, CA_ERROR, "authorization pending", detail, -1);
		return;
	}
	files_note(op->a, op->ref, op->token_rel);
	acme_post(op, op->challenge_url, ACME_CHALLENGE_READY, on_challenge);
}

/* An authorization to answer: the key authorization under the webroot,
 * then "ready" to the challenge URL. */
static void answer(struct acme_op *op, const struct acme_authz *az)
{
	const struct acme_challenge *ch = acme_authz_challenge(az, "http-01");
	char *ka = NULL, m[256], detail[700];

	if (ch == NULL || ch->token == NULL) {
		snprintf(detail, sizeof detail, "the ACME server offers no "
		    "http-01 challenge for %s", az->identifier.value);
		acme_reply(op, CA_ERROR, "authorization pending", detail, -1);
		return;
	}
	if (ch->status != ACME_PENDING) {
		/* Already answered (processing): wait for its verdict. */
		op->authz_i++;
		authz_next(op);
		return;
	}
	if (op->hooks.put == NULL) {
		snprintf(detail, sizeof detail, "'%s' has no webroot for the "
		    "http-01 challenge of %s (set webroot in its server "
		    "entry)", op->server, az->identifier.value);
		acme_reply(op, CA_ERROR, "authorization pending", detail, -1);
		return;
	}
	free(op->token_rel);
	free(op->challenge_url);
	op->token_rel = cf_asprintf("%s%s", CHALLENGE_DIR, ch->token);
	op->challenge_url = strdup(ch->url);
	if (op->token_rel == NULL || op->challenge_url == NULL ||
	    jws_key_authorization(ch->token, op->a->thumbprint, &ka, m,
	    sizeof m) != 0) {
		acme_reply(op, CA_ERROR, "authorization pending",
		    op->token_rel && op->challenge_url ? m : "out of memory",
		    -1);
		return;
	}
	if (op->hooks.put(op->hooks.ctx, op->token_rel, ka, strlen(ka),
	    on_published, op) != 0) {
		free(ka);
		snprintf(detail, sizeof detail, "cannot write the http-01 file "
		    "on '%s'", op->server);
		acme_reply(op, CA_ERROR, "authorization pending", detail, -1);
		return;
	}
	free(ka);
}

/* The reason an authorization failed: its challenge's problem. */
static void authz_denied(struct acme_op *op, const struct acme_authz *az)
{
	char buf[1100], detail[1400], text[64];
	size_t i;

	snprintf(text, sizeof text, "authorization %s",
	    acme_status_name(az->status));
	snprintf(buf, sizeof buf, "%s", text);
	for (i = 0; i < az->nchallenges; i++)
		if (az->challenges[i].error) {
			acme_problem_describe(az->challenges[i].error, buf,
			    sizeof buf);
			break;
		}
	snprintf(detail, sizeof detail, "%s %s: %s", az->identifier.type,
	    az->identifier.value, buf);
	acme_reply(op, CA_DENIED, text, detail, -1);
}

static void on_authz(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg)
{
	struct acme_authz az;
	char m[256];

	if (acme_failed(op, status, resp, msg, "cannot read an "
	    "authorization", "cannot read an authorization", CA_ERROR))
		return;
	if (acme_authz_parse(resp->body, resp->body_len, &az, m,
	    sizeof m) != 0) {
		acme_authz_release(&az);
		malformed(op, m);
		return;
	}
	if (az.status == ACME_PENDING)
		op->authz_pending++;
	snprintf(m, sizeof m, "authorization %s", acme_status_name(az.status));
	note_status(op, m);
	if (az.status == ACME_PENDING && !op->scan_invalid) {
		answer(op, &az);
	} else if (az.status == ACME_VALID || az.status == ACME_PENDING) {
		op->authz_i++;
		authz_next(op);
	} else {
		authz_denied(op, &az);
	}
	acme_authz_release(&az);
}

static void authz_next(struct acme_op *op)
{
	char text[64];

	if (op->authz_i < op->order.nauthorizations) {
		acme_post(op, op->order.authorizations[op->authz_i], NULL,
		    on_authz);
		return;
	}
	if (op->scan_invalid) {
		acme_reply(op, CA_DENIED, "order invalid", "the ACME server "
		    "marked the order invalid without a reason", -1);
		return;
	}
	/* The authorizations' state is the CA's word too. */
	snprintf(text, sizeof text, "order %s, authorization %s",
	    acme_status_name(op->order.status),
	    op->authz_pending ? "pending" : "valid");
	wait_or_reply(op, text, "authorizations answered", op->retry_after);
}

/* ---- polling the order ---- */

static void invalid_order(struct acme_op *op)
{
	char buf[1100];

	if (op->order.error) {
		acme_problem_describe(op->order.error, buf, sizeof buf);
		acme_reply(op, CA_DENIED, "order invalid", buf, -1);
		return;
	}
	op->scan_invalid = true;
	op->authz_i = 0;
	authz_next(op);
}

static void pending_processing(struct acme_op *op)
{
	wait_or_reply(op, "order processing", NULL, op->retry_after);
}

static void on_order(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg)
{
	if (acme_failed(op, status, resp, msg, "cannot read the order",
	    "cannot read the order", CA_DENIED))
		return;
	acme_order_release(&op->order);
	if (!read_order(op, resp, &op->order, true))
		return;
	op->retry_after = acme_retry_of(resp);
	switch (op->order.status) {
	case ACME_PENDING:
		op->authz_i = 0;
		op->authz_pending = 0;
		authz_next(op);
		return;
	case ACME_READY:
		clean_then(op, finalize);
		return;
	case ACME_PROCESSING:
		clean_then(op, pending_processing);
		return;
	case ACME_VALID:
		/* acme_order_parse saw to its certificate URL. */
		clean_then(op, download_next);
		return;
	default:
		clean_then(op, invalid_order);
		return;
	}
}

void acme_order_poll(struct acme_op *op)
{
	acme_post(op, op->ref, NULL, on_order);
}
