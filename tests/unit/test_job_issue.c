/*
 * keygen = "server" through the real engine and job state machine, on the
 * loop, with a fake transport that can make keys: it records the key path
 * the job asks for and refuses to make the key, so the job ends failed
 * without a CA. A 64-character server name (the longest the inventory
 * allows) once overflowed the key path's buffer (issue 9, defect 1); under
 * ASan this test then aborted.
 */
#include "tests/unit/unit.h"
#include "engine/base/container_of.h"
#include "engine/job/engine.h"
#include "engine/base/err.h"
#include "engine/report/report.h"
#include "engine/base/usage.h"

#include <stdlib.h>
#include <string.h>

/* The fake transport: every callback runs later, from a timer, never from
 * inside the call (transport.h's rule). */
struct fake {
	struct transport base;
	int pending;                /* answers not delivered yet */
	void (*close_cb)(void *);
	void *close_arg;
	int keygens;
	char *key_path;             /* what keygen was asked for */
	char *cn;
	char *san;
};

struct later {
	uv_timer_t timer;
	struct fake *f;
	transport_file_cb cb;
	void *arg;
	int status;
	const char *msg;
};

static void fake_maybe_closed(struct fake *f)
{
	if (f->close_cb != NULL && f->pending == 0)
		f->close_cb(f->close_arg);
}

static void later_closed(uv_handle_t *h)
{
	struct later *l = h->data;
	struct fake *f = l->f;

	free(l);
	f->pending--;
	fake_maybe_closed(f);
}

static void later_fire(uv_timer_t *t)
{
	struct later *l = t->data;

	l->cb(l->arg, l->status, NULL, 0, l->msg);
	uv_close((uv_handle_t *)&l->timer, later_closed);
}

static int answer_later(struct fake *f, transport_file_cb cb, void *arg,
    int status, const char *msg)
{
	struct later *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return CF_ENOMEM;
	l->f = f;
	l->cb = cb;
	l->arg = arg;
	l->status = status;
	l->msg = msg;
	uv_timer_init(f->base.loop, &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, later_fire, 0, 0);
	f->pending++;
	return 0;
}

/* Nothing is installed yet: every usage is due. */
static int fake_read_file(struct transport *t, const char *path, size_t max,
    transport_file_cb cb, void *arg)
{
	struct fake *f = container_of(t, struct fake, base);

	(void)path;
	(void)max;
	return answer_later(f, cb, arg, CF_ENOENT, "not found");
}

static int fake_keygen(struct transport *t, const char *keytype,
    const char *key_path, const char *cn, const char *san,
    transport_file_cb cb, void *arg)
{
	struct fake *f = container_of(t, struct fake, base);

	(void)keytype;
	f->keygens++;
	free(f->key_path);
	free(f->cn);
	free(f->san);
	f->key_path = strdup(key_path);
	f->cn = strdup(cn);
	f->san = strdup(san);
	return answer_later(f, cb, arg, CF_ETRANSPORT, "fake: no keys here");
}

static void fake_close(struct transport *t, void (*cb)(void *), void *arg)
{
	struct fake *f = container_of(t, struct fake, base);

	f->close_cb = cb;
	f->close_arg = arg;
	fake_maybe_closed(f);
}

static const struct transport_ops fake_ops = {
	.name = "fake",
	.read_file = fake_read_file,
	.keygen = fake_keygen,
	.close = fake_close,
};

/* The transport outlives the job: the test reads what it recorded. */
static int fake_open(void *ctx, size_t i, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	struct fake *f = ctx;

	(void)i;
	(void)msg;
	(void)msgsz;
	f->base.ops = &fake_ops;
	f->base.loop = loop;
	f->base.server = "fake";
	*out = &f->base;
	return 0;
}

/* Runs one server named name with keygen = "server" and certs below
 * certs; f records what the job asked of the transport. */
static void run_one(const char *name, const char *certs, struct fake *f,
    struct report *r)
{
	static char san0[] = "DNS:web.contoso.test", san1[] = "IP:192.0.2.7";
	static char *sans[] = { san0, san1 };
	struct usage_binding bindings[USAGE_CAP];
	struct store_paths store = { "trust/roots", "trust/inters",
	    (char *)certs };
	struct req_spec spec;
	struct engine_target tg;
	struct engine_config cfg;
	struct ca_driver ca = { NULL, "none", NULL };
	uv_loop_t loop;
	char msg[256];

	memset(bindings, 0, sizeof bindings);
	req_spec_init(&spec);
	spec.subject = "CN=web";
	spec.san = sans;
	spec.nsan = 2;
	memset(&tg, 0, sizeof tg);
	tg.name = name;
	tg.spec = &spec;
	tg.usages = 1u << USAGE_DEFAULT;
	tg.store = &store;
	tg.bindings = bindings;
	tg.keygen_remote = true;
	memset(&cfg, 0, sizeof cfg);
	cfg.mode = ENGINE_RUN;
	cfg.concurrency = 1;
	cfg.renew_before_days = 30;
	cfg.now = 1700000000;
	cfg.keys_dir = "/nonexistent";
	cfg.ca = &ca;
	cfg.targets = &tg;
	cfg.ntargets = 1;
	cfg.open = fake_open;
	cfg.ctx = f;
	memset(f, 0, sizeof *f);
	assert_int_equal(report_init(r, "fleet.cfg", "run", 0), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(engine_run(&loop, &cfg, r, msg, sizeof msg), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(f->pending, 0);
}

static void fake_release(struct fake *f)
{
	free(f->key_path);
	free(f->cn);
	free(f->san);
}

static void test_short_name(void **state)
{
	struct report r;
	struct fake f;

	(void)state;
	run_one("web01", "certs", &f, &r);
	assert_int_equal(f.keygens, 1);
	assert_string_equal(f.key_path, "certs/.certfleet/keys/web01-0.key");
	assert_string_equal(f.cn, "web.contoso.test");
	assert_string_equal(f.san, "DNS:web.contoso.test,IP:192.0.2.7");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rows[0].status, REPORT_FAILED);
	assert_non_null(r.rows[0].error);
	assert_non_null(strstr(r.rows[0].error, "fake: no keys here"));
	fake_release(&f);
	report_release(&r);
}

/* 64 characters: the key path is 64 + 31 bytes past the store path. */
static void test_longest_name(void **state)
{
	char name[65], want[256];
	struct report r;
	struct fake f;

	(void)state;
	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(want, sizeof want, "certs/.certfleet/keys/%s-0.key", name);
	run_one(name, "certs", &f, &r);
	assert_int_equal(f.keygens, 1);
	assert_string_equal(f.key_path, want);
	assert_int_equal(r.rows[0].status, REPORT_FAILED);
	fake_release(&f);
	report_release(&r);
}

/* A long store path with the longest name: nothing depends on a margin. */
static void test_long_store(void **state)
{
	char certs[301], name[65], want[512];
	struct report r;
	struct fake f;

	(void)state;
	memset(certs, 'c', 300);
	certs[0] = '/';
	certs[300] = '\0';
	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(want, sizeof want, "%s/.certfleet/keys/%s-0.key", certs,
	    name);
	run_one(name, certs, &f, &r);
	assert_string_equal(f.key_path, want);
	fake_release(&f);
	report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_name),
		cmocka_unit_test(test_longest_name),
		cmocka_unit_test(test_long_store),
	};
	return cmocka_run_group_tests_name("job_issue", tests, NULL, NULL);
}
