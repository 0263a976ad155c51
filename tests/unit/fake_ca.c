/*
 * The scriptable CA driver of fake_ca.h. Signing is done at once on the
 * loop thread (EC keys, a test's handful of servers); only the delivery
 * waits, on a timer per answer, so a callback never runs inside submit or
 * poll and a slow answer is just a longer timer.
 */
#include "tests/unit/fake_ca.h"
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_server {
	char *name;
	struct fake_answer *seq;    /* detail strings owned */
	size_t n;
	size_t pos;                 /* the next answer */
	struct fake_counts counts;
	struct fake_server *next;
};

struct fake_ca {
	struct ca_driver base;      /* first: fake_ca_driver hands it out */
	uv_loop_t *loop;
	struct ca_local ca;
	char *chain_pem;            /* issuing CA, then root */
	struct fake_server *servers;
	int outstanding;
	unsigned serial;            /* for refs */
};

/* One answer on its way. */
struct fake_call {
	uv_timer_t timer;
	struct fake_ca *fc;
	struct ca_reply reply;
	ca_reply_cb cb;
	void *arg;
};

#define FAKE_OF(ca) ((struct fake_ca *)(void *)((char *)(ca) - \
	offsetof(struct fake_ca, base)))

static struct fake_server *server_get(struct fake_ca *fc, const char *name,
    bool add)
{
	struct fake_server *s;

	for (s = fc->servers; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	if (!add || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->name = strdup(name)) == NULL) {
		free(s);
		return NULL;
	}
	s->next = fc->servers;
	fc->servers = s;
	return s;
}

static void script_release(struct fake_server *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free((char *)s->seq[i].detail);
	free(s->seq);
	s->seq = NULL;
	s->n = s->pos = 0;
}

int fake_ca_sign(struct fake_ca *fc, const char *csr_pem,
    const struct req_spec *spec, char **out, char *msg, size_t msgsz)
{
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	char *leaf = NULL;
	int rc;

	*out = NULL;
	if ((rc = crypto_csr_from_pem(csr_pem, "the CSR", &csr, msg,
	    msgsz)) != 0)
		return rc;
	rc = ca_local_sign(&fc->ca, csr, spec, time(NULL), &cert, msg, msgsz);
	X509_REQ_free(csr);
	if (rc == 0)
		rc = crypto_cert_to_pem(cert, &leaf, msg, msgsz);
	X509_free(cert);
	if (rc != 0)
		return rc;
	*out = cf_asprintf("%s%s", leaf, fc->chain_pem);
	free(leaf);
	return *out ? 0 : cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
}

static void call_closed(uv_handle_t *h)
{
	struct fake_call *c = h->data;

	c->fc->outstanding--;
	free(c);
}

static void call_fire(uv_timer_t *t)
{
	struct fake_call *c = t->data;

	c->cb(c->arg, &c->reply);
	ca_reply_release(&c->reply);
	uv_close((uv_handle_t *)&c->timer, call_closed);
}

static int reply_fill(struct fake_ca *fc, const struct ca_request *req,
    const struct fake_answer *a, struct ca_reply *r)
{
	static const char *words[] = { "issued", "pending", "denied", "error" };
	char msg[512];

	r->answer = a->kind == FAKE_ISSUED ? CA_ISSUED :
	    a->kind == FAKE_PENDING ? CA_PENDING :
	    a->kind == FAKE_DENIED ? CA_DENIED : CA_ERROR;
	r->retry_after = a->retry_after;
	if ((r->status_text = strdup(words[r->answer])) == NULL ||
	    (a->detail && (r->detail = strdup(a->detail)) == NULL))
		return CF_ENOMEM;
	if (req->ref != NULL)
		r->ref = strdup(req->ref);
	else
		r->ref = cf_asprintf("fake-%s-%u", req->server, ++fc->serial);
	if (r->ref == NULL)
		return CF_ENOMEM;
	if (a->kind != FAKE_ISSUED)
		return 0;
	if (fake_ca_sign(fc, req->csr_pem, req->spec, &r->cert_pem, msg,
	    sizeof msg) != 0) {
		/* A CSR the embedded CA cannot sign is the CA's error. */
		r->answer = CA_ERROR;
		free(r->status_text);
		free(r->detail);
		r->status_text = strdup("error");
		r->detail = strdup(msg);
	}
	return 0;
}

static int answer(struct ca_driver *ca, const struct ca_request *req,
    bool poll, ca_reply_cb cb, void *arg)
{
	static const struct fake_answer issued = { FAKE_ISSUED, 0, NULL, 0 };
	struct fake_ca *fc = FAKE_OF(ca);
	struct fake_server *s = server_get(fc, req->server, true);
	const struct fake_answer *a = &issued;
	struct fake_call *c;

	if (s == NULL)
		return CF_ENOMEM;
	if (poll) {
		s->counts.polls++;
		snprintf(s->counts.last_ref, sizeof s->counts.last_ref, "%s",
		    req->ref ? req->ref : "");
	} else {
		s->counts.submits++;
	}
	if (s->n > 0) {
		a = &s->seq[s->pos];
		if (s->pos + 1 < s->n)
			s->pos++;
	}
	if (a->kind == FAKE_REFUSE)
		return CF_ETRANSPORT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CF_ENOMEM;
	c->fc = fc;
	c->cb = cb;
	c->arg = arg;
	if (reply_fill(fc, req, a, &c->reply) != 0) {
		ca_reply_release(&c->reply);
		free(c);
		return CF_ENOMEM;
	}
	uv_timer_init(fc->loop, &c->timer);
	c->timer.data = c;
	fc->outstanding++;
	uv_timer_start(&c->timer, call_fire, a->delay_ms, 0);
	return 0;
}

static int fake_submit(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return answer(ca, req, false, cb, arg);
}

static int fake_poll(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return answer(ca, req, true, cb, arg);
}

static int fake_chain_pem(struct ca_driver *ca, char **out, char *msg,
    size_t msgsz)
{
	if ((*out = strdup(FAKE_OF(ca)->chain_pem)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	return 0;
}

static void fake_driver_free(struct ca_driver *ca)
{
	struct fake_ca *fc = FAKE_OF(ca);
	struct fake_server *s;

	while ((s = fc->servers) != NULL) {
		fc->servers = s->next;
		script_release(s);
		free(s->name);
		free(s);
	}
	ca_local_release(&fc->ca);
	free(fc->chain_pem);
	free(fc);
}

/* The fake's policy, for plan: a name holding "forbidden" is refused. */
static int fake_precheck(struct ca_driver *ca, const struct req_spec *spec,
    char *msg, size_t msgsz)
{
	size_t i;

	(void)ca;
	for (i = 0; i < spec->nsan; i++)
		if (strstr(spec->san[i], "forbidden") != NULL)
			return cf_error(msg, msgsz, CF_EDENIED, "'%s' is not "
			    "allowed", spec->san[i]);
	return 0;
}

static const struct ca_ops fake_ops = {
	.submit = fake_submit,
	.poll = fake_poll,
	.precheck = fake_precheck,
	.chain_pem = fake_chain_pem,
	.free = fake_driver_free,
};

int fake_ca_new(uv_loop_t *loop, const char *root_cert,
    const char *issuing_cert, const char *issuing_key, struct fake_ca **out,
    char *msg, size_t msgsz)
{
	struct fake_ca *fc = calloc(1, sizeof(*fc));
	int rc;

	*out = NULL;
	if (fc == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	fc->base.ops = &fake_ops;
	fc->base.type = "fake";
	fc->loop = loop;
	if ((rc = ca_local_load(&fc->ca, root_cert, issuing_cert,
	    issuing_key, msg, msgsz)) != 0 ||
	    (rc = ca_local_chain_pem(&fc->ca, &fc->chain_pem, msg,
	    msgsz)) != 0) {
		ca_local_release(&fc->ca);
		free(fc);
		return rc;
	}
	*out = fc;
	return 0;
}

void fake_ca_free(struct fake_ca *fc)
{
	if (fc != NULL)
		fake_driver_free(&fc->base);
}

struct ca_driver *fake_ca_driver(struct fake_ca *fc)
{
	return &fc->base;
}

int fake_ca_script(struct fake_ca *fc, const char *server,
    const struct fake_answer *seq, size_t n)
{
	struct fake_server *s = server_get(fc, server, true);
	size_t i;

	if (s == NULL)
		return CF_ENOMEM;
	script_release(s);
	if (n == 0)
		return 0;
	if ((s->seq = calloc(n, sizeof(*s->seq))) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < n; i++) {
		s->seq[i] = seq[i];
		s->seq[i].detail = NULL;
		if (seq[i].detail && (s->seq[i].detail =
		    strdup(seq[i].detail)) == NULL) {
			s->n = i;
			script_release(s);
			return CF_ENOMEM;
		}
	}
	s->n = n;
	return 0;
}

void fake_ca_counts(const struct fake_ca *fc, const char *server,
    struct fake_counts *out)
{
	struct fake_server *s = server_get((struct fake_ca *)fc, server, false);

	memset(out, 0, sizeof(*out));
	if (s != NULL)
		*out = s->counts;
}

int fake_ca_outstanding(const struct fake_ca *fc)
{
	return fc->outstanding;
}
