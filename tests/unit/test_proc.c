/*
 * The process runner against real programs: output captured and capped,
 * stdin fed, exit status and signals, the TERM-then-KILL timeout, a
 * program that cannot start, a chosen environment; a conversation (stdin
 * kept open, stdout streamed) and an explicit kill.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
	int calls;
	int status;
	int exit_status;
	int term_signal;
	bool timed_out;
	char out[256];
	size_t outlen;
	bool out_over;
	char err[256];
	char msg[512];
};

static void on_done(void *arg, int status, const struct proc_result *r,
    const char *msg)
{
	struct got *g = arg;

	g->calls++;
	g->status = status;
	g->exit_status = r->exit_status;
	g->term_signal = r->term_signal;
	g->timed_out = r->timed_out;
	snprintf(g->out, sizeof g->out, "%s", r->out);
	g->outlen = r->outlen;
	g->out_over = r->out_over;
	snprintf(g->err, sizeof g->err, "%s", r->err);
	snprintf(g->msg, sizeof g->msg, "%s", msg);
}

/* Runs spec to its end on a loop of its own. */
static void run(struct proc_spec *spec, struct got *g)
{
	uv_loop_t loop;

	memset(g, 0, sizeof *g);
	if (spec->out_cap == 0)
		spec->out_cap = 200;
	if (spec->err_cap == 0)
		spec->err_cap = 200;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(proc_run(&loop, spec, on_done, g), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(g->calls, 1);
}

static void test_output_and_status(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3",
	    NULL };
	struct proc_spec spec = { .argv = argv };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.exit_status, 3);
	assert_string_equal(g.out, "out\n");
	assert_string_equal(g.err, "err\n");
	assert_false(g.timed_out);
}

static void test_stdin(void **state)
{
	char *argv[] = { "cat", NULL };
	struct proc_spec spec = { .argv = argv, .in = "fed on stdin",
	    .inlen = 12 };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_int_equal(g.exit_status, 0);
	assert_string_equal(g.out, "fed on stdin");
}

/* Far more output than the cap: the first bytes kept, the rest drained
 * (the program is not blocked on a full pipe). */
static void test_cap(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "head -c 5000000 /dev/zero | tr "
	    "'\\0' x", NULL };
	struct proc_spec spec = { .argv = argv, .out_cap = 100 };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_int_equal(g.exit_status, 0);
	assert_int_equal(g.outlen, 100);
	assert_true(g.out_over);
}

static void test_timeout_term(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 50,
	    .group = true };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_true(g.timed_out);
	assert_int_equal(g.term_signal, SIGTERM);
	assert_int_equal(g.exit_status, -1);
}

/* TERM ignored: KILL after the grace, the child it started included. */
static void test_timeout_kill(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30 & wait",
	    NULL };
	/* Long enough for the shell to set its trap first even on a loaded
	 * machine: a TERM before it would end the shell, not test the KILL. */
	struct proc_spec spec = { .argv = argv, .timeout_ms = 1000,
	    .group = true };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_true(g.timed_out);
	assert_int_equal(g.term_signal, SIGKILL);
}

static void test_cannot_start(void **state)
{
	char *argv[] = { "/nonexistent/helper", NULL };
	struct proc_spec spec = { .argv = argv };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_int_equal(g.status, CF_ETRANSPORT);
	assert_non_null(strstr(g.msg, "cannot run '/nonexistent/helper'"));
}

static void test_env(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "printf %s \"$ONLY\"", NULL };
	char *env[] = { "ONLY=this; rm -rf / $(x)", NULL };
	struct proc_spec spec = { .argv = argv, .env = env };
	struct got g;

	(void)state;
	run(&spec, &g);
	assert_string_equal(g.out, "this; rm -rf / $(x)");
}

/* A conversation: stdin kept open, stdout as it comes, a reply written
 * from inside the output callback, the timeout armed per exchange, and
 * an idle process that does not hold the loop. */
struct talk {
	struct proc *p;
	char seen[64];
	int chunks;
};

static void on_out(void *arg, const char *data, size_t len)
{
	struct talk *tk = arg;
	size_t n = strlen(tk->seen);

	snprintf(tk->seen + n, sizeof tk->seen - n, "%.*s", (int)len, data);
	if (tk->chunks++ == 0) {
		assert_int_equal(proc_write(tk->p, "two\n", 4), 0);
		proc_set_timeout(tk->p, 0);
	}
}

static void test_conversation(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "while read -r l; do echo \"<$l>\"; "
	    "done", NULL };
	struct talk tk = { 0 };
	struct proc_spec spec = { .argv = argv, .in = "one\n", .inlen = 4,
	    .keep_in = true, .out_cap = 16, .err_cap = 16, .on_out = on_out,
	    .out_arg = &tk, .timeout_ms = 10000 };
	uv_loop_t loop;
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(proc_start(&loop, &spec, on_done, &g, &tk.p), 0);
	/* Runs until both lines are back (reads that split a line end the
	 * loop early; run again). */
	while (strcmp(tk.seen, "<one>\n<two>\n") != 0)
		uv_run(&loop, UV_RUN_ONCE);
	/* Idle and unreferenced: the loop has nothing to wait for. */
	proc_ref(tk.p, false);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(g.calls, 0);
	proc_ref(tk.p, true);
	proc_end_input(tk.p);
	assert_int_equal(proc_write(tk.p, "late\n", 5), CF_EINVAL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.exit_status, 0);
	assert_false(g.timed_out);
	assert_string_equal(g.out, "");
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* proc_kill: TERM now, not counted as a timeout. */
static void test_kill(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct proc_spec spec = { .argv = argv, .out_cap = 16, .err_cap = 16 };
	uv_loop_t loop;
	struct proc *p;
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(proc_start(&loop, &spec, on_done, &g, &p), 0);
	proc_kill(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.term_signal, SIGTERM);
	assert_false(g.timed_out);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_timeout_term),
		cmocka_unit_test(test_timeout_kill),
		cmocka_unit_test(test_cannot_start),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_conversation),
		cmocka_unit_test(test_kill),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
