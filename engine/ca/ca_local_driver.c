/*
 * The embedded CA's driver. A request is answered like a real CA would:
 * denied when the policy refuses a name, pending while manual approval is
 * outstanding, otherwise signed on the threadpool. Work items get copies of
 * their inputs; only the after-callback, on the loop thread, calls back.
 * It keeps no state of its own between calls: the journal holds the
 * request (CSR, approval), so a pending request survives any restart.
 */
#include "engine/ca/ca_local_driver.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/str.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct local_ca {
	struct ca_driver base;
	uv_loop_t *loop;
	struct ca_local ca;
	struct ca_policy policy;
	char *chain_pem;
	char id[65];                /* the issuing CA's SHA-256 */
};

/* One request on its way through the threadpool. */
struct sign_work {
	uv_work_t work;
	struct local_ca *lc;
	char *csr_pem;              /* copies, owned */
	struct req_spec spec;
	char *ref;
	struct ca_reply reply;      /* filled on the worker thread */
	ca_reply_cb cb;
	void *arg;
};

static void reply_set(struct ca_reply *r, enum ca_answer a,
    const char *status, const char *detail)
{
	r->answer = a;
	free(r->status_text);
	free(r->detail);
	r->status_text = strdup(status);
	r->detail = detail ? strdup(detail) : NULL;
}

static void work_free(struct sign_work *w)
{
	free(w->csr_pem);
	free(w->ref);
	req_spec_release(&w->spec);
	ca_reply_release(&w->reply);
	free(w);
}

/* Worker thread: parse, sign, encode. Touches only w and the CA's
 * immutable certificates and key. */
static void sign_run(uv_work_t *req)
{
	struct sign_work *w = container_of(req, struct sign_work, work);
	char msg[512], *leaf = NULL;
	X509_REQ *csr = NULL;
	int rc;

	if (crypto_csr_from_pem(w->csr_pem, "the CSR", &csr, msg,
	    sizeof msg) != 0) {
		reply_set(&w->reply, CA_ERROR, "error", msg);
		return;
	}
	rc = ca_local_sign_pem(&w->lc->ca, csr, &w->spec, time(NULL), &leaf,
	    msg, sizeof msg);
	X509_REQ_free(csr);
	if (rc == CF_EDENIED) {
		reply_set(&w->reply, CA_DENIED, "denied", msg);
		return;
	}
	if (rc != 0) {
		reply_set(&w->reply, CA_ERROR, "error", msg);
		return;
	}
	w->reply.cert_pem = cf_asprintf("%s%s", leaf, w->lc->chain_pem);
	if (w->reply.cert_pem == NULL)
		reply_set(&w->reply, CA_ERROR, "error", "out of memory");
	else
		reply_set(&w->reply, CA_ISSUED, "issued", NULL);
	free(leaf);
}

static void sign_after(uv_work_t *req, int status)
{
	struct sign_work *w = container_of(req, struct sign_work, work);

	if (status != 0)
		reply_set(&w->reply, CA_ERROR, "error", uv_strerror(status));
	w->reply.ref = w->ref;
	w->ref = NULL;
	w->cb(w->arg, &w->reply);
	work_free(w);
}

/* Answers without signing (denied, pending) through the same path, so a
 * callback never runs inside submit. */
static void answer_run(uv_work_t *req)
{
	(void)req;
}

static int queue(struct local_ca *lc, const struct ca_request *req,
    bool poll, ca_reply_cb cb, void *arg)
{
	struct sign_work *w = calloc(1, sizeof(*w));
	char msg[512];
	bool sign = true;
	int rc;

	if (w == NULL)
		return CF_ENOMEM;
	w->lc = lc;
	w->cb = cb;
	w->arg = arg;
	req_spec_init(&w->spec);
	w->csr_pem = strdup(req->csr_pem);
	w->ref = poll && req->ref ? strdup(req->ref) :
	    cf_asprintf("local-%016" PRIx64, fsio_random64());
	if (w->csr_pem == NULL || w->ref == NULL ||
	    req_spec_copy(&w->spec, req->spec) != 0) {
		work_free(w);
		return CF_ENOMEM;
	}
	if (ca_policy_check(&lc->policy, req->spec, msg, sizeof msg) != 0) {
		reply_set(&w->reply, CA_DENIED, "denied", msg);
		sign = false;
	} else if ((req->approval == CA_APPROVAL_DEFAULT ?
	    lc->policy.manual_approval : req->approval == CA_APPROVAL_MANUAL) &&
	    !req->approved) {
		/* An offline enterprise CA: nothing happens until a person
		 * approves, so the run does not wait for it. */
		reply_set(&w->reply, CA_PENDING, "pending approval",
		    "waiting for 'certfleet approve'");
		w->reply.retry_after = -1;
		sign = false;
	}
	rc = uv_queue_work(lc->loop, &w->work, sign ? sign_run : answer_run,
	    sign_after);
	if (rc != 0) {
		work_free(w);
		return CF_EINTERNAL;
	}
	return 0;
}

static int local_submit(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return queue(container_of(ca, struct local_ca, base), req, false, cb,
	    arg);
}

static int local_poll(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return queue(container_of(ca, struct local_ca, base), req, true, cb,
	    arg);
}

static int local_precheck(struct ca_driver *ca, const struct req_spec *spec,
    char *msg, size_t msgsz)
{
	struct local_ca *lc = container_of(ca, struct local_ca, base);

	return ca_policy_check(&lc->policy, spec, msg, msgsz) != 0 ?
	    CF_EDENIED : 0;
}

static int local_chain_pem(struct ca_driver *ca, char **out, char *msg,
    size_t msgsz)
{
	struct local_ca *lc = container_of(ca, struct local_ca, base);

	if ((*out = strdup(lc->chain_pem)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	return 0;
}

static void policy_release(struct ca_policy *p)
{
	size_t i;

	for (i = 0; i < p->ndomains; i++)
		free(p->allowed_domains[i]);
	free(p->allowed_domains);
	free(p->allowed_ips);
	memset(p, 0, sizeof(*p));
}

static void local_free(struct ca_driver *ca)
{
	struct local_ca *lc;

	if (ca == NULL)
		return;
	lc = container_of(ca, struct local_ca, base);
	ca_local_release(&lc->ca);
	policy_release(&lc->policy);
	free(lc->chain_pem);
	free(lc);
}

static const struct ca_ops local_ops = {
	.submit = local_submit,
	.poll = local_poll,
	.precheck = local_precheck,
	.chain_pem = local_chain_pem,
	.free = local_free,
};

static int policy_copy(struct ca_policy *d, const struct ca_policy *s)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->manual_approval = s->manual_approval;
	if (s->ndomains) {
		d->allowed_domains = calloc(s->ndomains, sizeof(char *));
		if (d->allowed_domains == NULL)
			return CF_ENOMEM;
		for (i = 0; i < s->ndomains; i++) {
			d->allowed_domains[i] = strdup(s->allowed_domains[i]);
			if (d->allowed_domains[i] == NULL)
				return CF_ENOMEM;
			d->ndomains++;
		}
	}
	if (s->nips) {
		d->allowed_ips = malloc(s->nips * sizeof(struct cidr));
		if (d->allowed_ips == NULL)
			return CF_ENOMEM;
		memcpy(d->allowed_ips, s->allowed_ips,
		    s->nips * sizeof(struct cidr));
		d->nips = s->nips;
	}
	return 0;
}

int ca_local_driver_new(uv_loop_t *loop, const char *root_cert,
    const char *issuing_cert, const char *issuing_key,
    const struct ca_policy *policy, struct ca_driver **out, char *msg,
    size_t msgsz)
{
	struct local_ca *lc = calloc(1, sizeof(*lc));
	int rc;

	if (lc == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	lc->base.ops = &local_ops;
	lc->base.type = "local";
	lc->loop = loop;
	if ((rc = ca_local_load(&lc->ca, root_cert, issuing_cert, issuing_key,
	    msg, msgsz)) != 0) {
		free(lc);
		return rc;
	}
	if ((rc = policy_copy(&lc->policy, policy)) != 0 ||
	    (rc = ca_local_chain_pem(&lc->ca, &lc->chain_pem, msg,
	    msgsz)) != 0) {
		local_free(&lc->base);
		return rc == CF_ENOMEM ?
		    cf_error(msg, msgsz, rc, "out of memory") : rc;
	}
	crypto_fingerprint_sha256(lc->ca.issuing, lc->id);
	lc->base.id = lc->id;
	*out = &lc->base;
	return 0;
}
