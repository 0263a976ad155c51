/*
 * The embedded CA as a driver on a real libuv loop: concurrent signing on
 * the threadpool, policy denial, manual approval, callbacks never inside
 * submit, and a loop that closes clean.
 */
#include "tests/unit/unit.h"
#include "engine/ca/ca_local_driver.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 16

struct fixture {
	char dir[64];
	char root[128], root_key[128], issuing[128], issuing_key[128];
	uv_loop_t loop;
	struct ca_driver *ca;
	struct ca_policy policy;
	char *domains[1];
};

struct call {
	int calls;
	bool in_submit;
	struct ca_reply reply;
	char *csr_pem;
	EVP_PKEY *key;
	struct req_spec spec;
	enum ca_approval approval;  /* the server's own, handed over */
};

static bool inside_submit;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char msg[512];

	strcpy(f->dir, "/tmp/test_ca_driver.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof f->root, "%s/root.pem", f->dir);
	snprintf(f->root_key, sizeof f->root_key, "%s/root.key", f->dir);
	snprintf(f->issuing, sizeof f->issuing, "%s/issuing.pem", f->dir);
	snprintf(f->issuing_key, sizeof f->issuing_key, "%s/issuing.key",
	    f->dir);
	assert_int_equal(ca_local_create("lab", f->root, f->root_key,
	    f->issuing, f->issuing_key, msg, sizeof msg), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->domains[0] = "contoso.test";
	f->policy.allowed_domains = f->domains;
	f->policy.ndomains = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->ca)
		f->ca->ops->free(f->ca);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	unlink(f->root);
	unlink(f->root_key);
	unlink(f->issuing);
	unlink(f->issuing_key);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void new_driver(struct fixture *f)
{
	char msg[512];

	assert_int_equal(ca_local_driver_new(&f->loop, f->root, f->issuing,
	    f->issuing_key, &f->policy, &f->ca, msg, sizeof msg), 0);
	assert_string_equal(f->ca->type, "local");
}

static void make_request(struct call *c, const char *host)
{
	char msg[512], san[128];
	X509_REQ *csr;

	req_spec_init(&c->spec);
	snprintf(san, sizeof san, "DNS:%s", host);
	c->spec.subject = cf_asprintf("CN=%s, O=Contoso", host);
	assert_non_null(c->spec.subject);
	req_spec_add_san(&c->spec, san);
	c->spec.eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	c->spec.days = 30;
	assert_int_equal(crypto_keygen(&c->spec.key, &c->key, msg,
	    sizeof msg), 0);
	assert_int_equal(crypto_csr_new(c->key, &c->spec, &csr, msg,
	    sizeof msg), 0);
	assert_int_equal(crypto_csr_to_pem(csr, &c->csr_pem, msg, sizeof msg),
	    0);
	X509_REQ_free(csr);
}

static void call_release(struct call *c)
{
	ca_reply_release(&c->reply);
	free(c->csr_pem);
	EVP_PKEY_free(c->key);
	req_spec_release(&c->spec);
}

static void on_reply(void *arg, struct ca_reply *r)
{
	struct call *c = arg;

	c->calls++;
	c->in_submit = inside_submit;
	ca_reply_release(&c->reply);
	c->reply = *r;
	/* Take every string: the driver frees the reply after we return. */
	memset(r, 0, sizeof(*r));
}

static void submit(struct fixture *f, struct call *c, bool poll,
    bool approved)
{
	struct ca_request req = { "srv", c->csr_pem, &c->spec,
	    c->reply.ref, approved, { NULL, NULL, NULL, NULL }, NULL,
	    c->approval };

	inside_submit = true;
	if (poll)
		assert_int_equal(f->ca->ops->poll(f->ca, &req, on_reply, c), 0);
	else
		assert_int_equal(f->ca->ops->submit(f->ca, &req, on_reply, c), 0);
	inside_submit = false;
}

static void test_concurrent_issue(void **state)
{
	struct fixture *f = *state;
	struct call c[N];
	char host[64], msg[512];
	STACK_OF(X509) *certs;
	int i;

	new_driver(f);
	memset(c, 0, sizeof c);
	for (i = 0; i < N; i++) {
		snprintf(host, sizeof host, "fe%02d.contoso.test", i);
		make_request(&c[i], host);
		submit(f, &c[i], false, false);
	}
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_false(c[i].in_submit);
		assert_int_equal(c[i].reply.answer, CA_ISSUED);
		assert_string_equal(c[i].reply.status_text, "issued");
		assert_non_null(c[i].reply.ref);
		/* Leaf, issuing CA, root. */
		assert_int_equal(crypto_certs_from_pem(c[i].reply.cert_pem,
		    "reply", &certs, msg, sizeof msg), 0);
		assert_int_equal(sk_X509_num(certs), 3);
		assert_true(crypto_key_matches_cert(c[i].key,
		    sk_X509_value(certs, 0)));
		sk_X509_pop_free(certs, X509_free);
		call_release(&c[i]);
	}
}

static void test_policy_denies_one(void **state)
{
	struct fixture *f = *state;
	struct call ok = { 0 }, bad = { 0 };

	new_driver(f);
	make_request(&ok, "fe01.contoso.test");
	make_request(&bad, "evil.example");
	submit(f, &bad, false, false);
	submit(f, &ok, false, false);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(bad.reply.answer, CA_DENIED);
	assert_false(bad.in_submit);
	assert_non_null(strstr(bad.reply.detail, "evil.example"));
	assert_null(bad.reply.cert_pem);
	assert_int_equal(ok.reply.answer, CA_ISSUED);
	call_release(&ok);
	call_release(&bad);
}

static void test_manual_approval(void **state)
{
	struct fixture *f = *state;
	struct call c = { 0 };
	char *ref;

	f->policy.manual_approval = true;
	new_driver(f);
	make_request(&c, "fe01.contoso.test");
	submit(f, &c, false, false);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(c.reply.answer, CA_PENDING);
	assert_int_equal(c.reply.retry_after, -1);
	assert_string_equal(c.reply.status_text, "pending approval");
	ref = strdup(c.reply.ref);

	/* Not approved yet: still pending, same request. */
	submit(f, &c, true, false);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(c.reply.answer, CA_PENDING);
	assert_string_equal(c.reply.ref, ref);

	/* Approved: the next poll collects the certificate. */
	submit(f, &c, true, true);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(c.reply.answer, CA_ISSUED);
	assert_string_equal(c.reply.ref, ref);
	assert_non_null(c.reply.cert_pem);
	assert_int_equal(c.calls, 3);
	free(ref);
	call_release(&c);
}

/* A server's own approval wins over the CA's, either way. */
static void test_approval_per_request(void **state)
{
	struct fixture *f = *state;
	struct call held = { 0 }, free_ = { 0 };

	new_driver(f);
	make_request(&held, "fe01.contoso.test");
	held.approval = CA_APPROVAL_MANUAL;
	submit(f, &held, false, false);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(held.reply.answer, CA_PENDING);
	assert_string_equal(held.reply.status_text, "pending approval");
	submit(f, &held, true, true);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(held.reply.answer, CA_ISSUED);

	f->ca->ops->free(f->ca);
	f->ca = NULL;
	f->policy.manual_approval = true;
	new_driver(f);
	make_request(&free_, "fe02.contoso.test");
	free_.approval = CA_APPROVAL_AUTO;
	submit(f, &free_, false, false);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(free_.reply.answer, CA_ISSUED);
	call_release(&held);
	call_release(&free_);
}

static void test_chain_pem(void **state)
{
	struct fixture *f = *state;
	STACK_OF(X509) *certs;
	char *pem, msg[256];

	new_driver(f);
	assert_int_equal(f->ca->ops->chain_pem(f->ca, &pem, msg, sizeof msg), 0);
	assert_int_equal(crypto_certs_from_pem(pem, "chain", &certs, msg,
	    sizeof msg), 0);
	assert_int_equal(sk_X509_num(certs), 2);
	sk_X509_pop_free(certs, X509_free);
	free(pem);
}

static void test_bad_ca_files(void **state)
{
	struct fixture *f = *state;
	struct ca_driver *ca = NULL;
	char msg[512];

	/* The root key is not the issuing key. */
	assert_int_not_equal(ca_local_driver_new(&f->loop, f->root, f->issuing,
	    f->root_key, &f->policy, &ca, msg, sizeof msg), 0);
	assert_null(ca);
	assert_int_not_equal(ca_local_driver_new(&f->loop, "/nonexistent",
	    f->issuing, f->issuing_key, &f->policy, &ca, msg, sizeof msg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_issue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_policy_denies_one, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_manual_approval, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_approval_per_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chain_pem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ca_files, setup,
		    teardown),
	};
	return cmocka_run_group_tests_name("ca_local_driver", tests, NULL, NULL);
}
