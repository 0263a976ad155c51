/*
 * One ssh session's life without ssh: /bin/sh -s stands in for
 * 'ssh HOST sh -s', fed the real remote helper (or a few lines acting one
 * out). Requests wait for CF-READY and are answered in turn on one
 * process; an idle session does not hold the loop; stop ends it cleanly;
 * a helper that never starts, dies mid-request, overruns its time or
 * answers too much ends the session with the status that says so.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/transport/ssh_frame.h"
#include "engine/transport/ssh_script.h"
#include "engine/transport/ssh_session.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
	int answers;
	char last[4096];
	int ends;
	int status;
	char why[600];
	bool ready;
};

static void on_answer(void *arg, const char *text, size_t len)
{
	struct got *g = arg;

	assert_int_equal(strlen(text), len);
	g->answers++;
	snprintf(g->last, sizeof g->last, "%s", text);
}

static void on_end(void *arg, int status, const char *why, bool ready)
{
	struct got *g = arg;

	g->ends++;
	g->status = status;
	g->ready = ready;
	snprintf(g->why, sizeof g->why, "%s", why);
}

/* A session of /bin/sh -s on script. */
static struct ssh_session *start(uv_loop_t *loop, const char *script,
    size_t max, struct got *g)
{
	static char *argv[] = { "/bin/sh", "-s", NULL };
	struct ssh_session_spec spec = { .argv = argv, .script = script,
	    .scriptlen = strlen(script), .answer_max = max, .connect_ms = 0,
	    .on_answer = on_answer, .on_end = on_end, .arg = g };
	struct ssh_session *s;

	memset(g, 0, sizeof *g);
	assert_int_equal(ssh_session_start(loop, &spec, &s), 0);
	return s;
}

/* Sends operation op on path (NULL: no arguments) with a limit of 100
 * bytes, and runs the loop until nothing holds it. */
static void request(uv_loop_t *loop, struct ssh_session *s, const char *op,
    const char *path, unsigned timeout_ms)
{
	struct ssh_frame f;
	char *frame;
	size_t len;

	ssh_frame_init(&f);
	if (path != NULL) {
		ssh_frame_argf(&f, "%s", path);
		ssh_frame_argf(&f, "%d", 100);
	}
	frame = ssh_frame_take(&f, op, &len);
	assert_non_null(frame);
	assert_int_equal(ssh_session_request(s, frame, len, timeout_ms), 0);
	OPENSSL_clear_free(frame, len);
	ssh_frame_release(&f);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* The helper, its root "/" (CF_ROOT is base64 of "/"). */
static char *helper(void)
{
	const char *root = "CF_ROOT='Lw=='\n";
	char *s = malloc(strlen(root) + strlen(ssh_remote_script) + 1);

	assert_non_null(s);
	strcpy(s, root);
	strcat(s, ssh_remote_script);
	return s;
}

static void test_requests_on_one_session(void **state)
{
	struct ssh_session *s;
	uv_loop_t loop;
	struct got g;
	char *script = helper();

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	s = start(&loop, script, 1 << 20, &g);
	/* Sent before the helper is ready: it waits for CF-READY. */
	request(&loop, s, "read_file", "/nonexistent/x", 10000);
	/* The loop returned with the session idle and alive. */
	assert_int_equal(g.answers, 1);
	assert_int_equal(g.ends, 0);
	assert_string_equal(g.last, "CF-ENOENT\n");
	request(&loop, s, "read_store", "/nonexistent", 10000);
	assert_int_equal(g.answers, 2);
	assert_string_equal(g.last, "CF-OK\n");
	/* An operation the helper does not know: its answer says so, and the
	 * session goes on. */
	request(&loop, s, "format_disk", NULL, 10000);
	assert_int_equal(g.answers, 3);
	assert_non_null(strstr(g.last, "CF-ERR "));
	request(&loop, s, "read_file", "/nonexistent/y", 10000);
	assert_int_equal(g.answers, 4);
	ssh_session_stop(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.ends, 1);
	assert_int_equal(g.status, 0);
	assert_true(g.ready);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(script);
}

/* A helper that never starts, dies mid-request, overruns its time or
 * answers too much: the request gets no answer, and the session's end
 * says why, once. */
static void test_session_ends(void **state)
{
	static const struct {
		const char *script;
		unsigned timeout_ms;
		int status;
		bool ready;
		const char *why;
	} cases[] = {
		{ "echo a login shell talks\nexit 0\n", 10000, CF_ETRANSPORT,
		    false, "the server did not start the helper (ssh exited "
		    "0)" },
		{ "echo CF-READY\nread x\necho gone >&2\nexit 3\n", 10000,
		    CF_ETRANSPORT, true, "the session ended: gone" },
		{ "echo CF-READY\nexec sleep 30\n", 200, CF_ETIMEDOUT, true,
		    "timed out" },
		{ "echo CF-READY\nread x\nwhile :; do echo AAAAAAAAAAAAAAAA; "
		    "done\n", 10000, CF_EINVAL, true,
		    "the answer is larger than 4096 bytes" },
	};
	struct ssh_session *s;
	uv_loop_t loop;
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(uv_loop_init(&loop), 0);
		s = start(&loop, cases[i].script, 4096, &g);
		request(&loop, s, "read_file", "/x", cases[i].timeout_ms);
		assert_int_equal(g.answers, 0);
		assert_int_equal(g.ends, 1);
		assert_int_equal(g.status, cases[i].status);
		assert_int_equal(g.ready, cases[i].ready);
		assert_string_equal(g.why, cases[i].why);
		assert_int_equal(uv_loop_close(&loop), 0);
	}
}

/* Stopped while idle, before any request: a clean end. */
static void test_stop_unused(void **state)
{
	struct ssh_session *s;
	uv_loop_t loop;
	struct got g;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	s = start(&loop, "echo CF-READY\nwhile read x; do :; done\n", 4096,
	    &g);
	ssh_session_stop(s);
	assert_int_equal(g.ends, 0);            /* never from inside stop */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.ends, 1);
	assert_int_equal(g.status, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_on_one_session),
		cmocka_unit_test(test_session_ends),
		cmocka_unit_test(test_stop_unused),
	};

	return cmocka_run_group_tests_name("ssh session", tests, NULL, NULL);
}
