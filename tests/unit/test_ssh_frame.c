/*
 * The ssh transport's wire format on strings alone: frames as the helper
 * reads them (a header, then one base64 line per argument, empty and
 * binary values included), answer boundaries found in a stream that
 * arrives in pieces, and answers read back (status, messages and codes,
 * blocks, store files), malformed ones refused.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/transport/ssh_frame.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static void test_frame(void **state)
{
	struct ssh_frame f;
	char *out;
	size_t len;

	(void)state;
	ssh_frame_init(&f);
	ssh_frame_argf(&f, "%s", "certs/x.pem");
	ssh_frame_arg(&f, "", 0);
	ssh_frame_arg(&f, "\0\n'$(x)", 7);
	ssh_frame_argf(&f, "%04o", 0644);
	out = ssh_frame_take(&f, "write_file", &len);
	assert_non_null(out);
	assert_string_equal(out, "write_file 4\n"
	    "Y2VydHMveC5wZW0=\n"
	    "\n"
	    "AAonJCh4KQ==\n"
	    "MDY0NA==\n");
	assert_int_equal(len, strlen(out));
	OPENSSL_clear_free(out, len);
	ssh_frame_release(&f);

	/* No arguments: the header alone. */
	ssh_frame_init(&f);
	out = ssh_frame_take(&f, "remove", &len);
	assert_string_equal(out, "remove 0\n");
	free(out);
	ssh_frame_release(&f);

	/* A large value: one line, however long. */
	ssh_frame_init(&f);
	{
		char *big = calloc(1, 100000);

		assert_non_null(big);
		ssh_frame_arg(&f, big, 100000);
		free(big);
	}
	out = ssh_frame_take(&f, "write_file", &len);
	assert_non_null(out);
	assert_int_equal(len, strlen("write_file 1\n") + 4 * 33334 + 1);
	assert_ptr_equal(strchr(out + strlen("write_file 1\n"), '\n'),
	    out + len - 1);
	free(out);
	ssh_frame_release(&f);
}

/* Answers arrive in pieces: a line is found only once it is complete,
 * and the look resumes where it stopped. */
static void test_find_line(void **state)
{
	const char *s = "junk from a login shell\nCF-READY\nCF-OK\nCF-DONE\n";
	size_t pos = 0, n;

	(void)state;
	assert_int_equal(ssh_frame_find_line(s, 30, &pos, "CF-READY"), 0);
	assert_int_equal(pos, 24);              /* "CF-REA" is incomplete */
	n = ssh_frame_find_line(s, strlen(s), &pos, "CF-READY");
	assert_int_equal(n, 33);
	assert_int_equal(ssh_frame_find_line(s, strlen(s), &pos, "CF-DONE"),
	    strlen(s));
	/* A line that only starts like the one looked for does not count. */
	pos = 0;
	assert_int_equal(ssh_frame_find_line("CF-DONEX\nCF-DONE", 16, &pos,
	    "CF-DONE"), 0);
	assert_int_equal(pos, 9);
	pos = 0;
	assert_int_equal(ssh_frame_find_line("", 0, &pos, "CF-DONE"), 0);
}

static void test_status(void **state)
{
	char *why;

	(void)state;
	assert_int_equal(ssh_answer_status("CF-OK\nAAAA\nCF-END\n", &why), 0);
	assert_null(why);
	assert_int_equal(ssh_answer_status("CF-ENOENT\n", &why), CF_ENOENT);
	assert_null(why);
	/* The code's name, then "no such file" in base64. */
	assert_int_equal(ssh_answer_status("CF-ERR ETRANSPORT bm8gc3VjaCBmaWxl\n",
	    &why), CF_ETRANSPORT);
	assert_string_equal(why, "no such file");
	free(why);
	/* An error after CF-OK (a file over the limit mid-answer) wins. */
	assert_int_equal(ssh_answer_status("CF-OK\nCF-ERR EINVAL YmlnIA==\n",
	    &why), CF_EINVAL);
	free(why);
	/* A code the controller does not know: CF_EIO. */
	assert_int_equal(ssh_answer_status("CF-ERR EWHAT eA==\n", &why),
	    CF_EIO);
	assert_string_equal(why, "x");
	free(why);
	/* Nothing the helper would say. */
	assert_int_equal(ssh_answer_status("", &why), CF_ETRANSPORT);
	assert_null(why);
	assert_int_equal(ssh_answer_status("CF-OKAY\n", &why), CF_ETRANSPORT);
}

static void test_block_and_words(void **state)
{
	const char *ans = "CF-OK\naGVs\nbG8=\nCF-END\nCF-UNDO YQ== Yg==\n";
	char *b, *w;
	size_t len;

	(void)state;
	b = ssh_answer_block(ssh_answer_line(ans, "CF-OK"), &len);
	assert_non_null(b);
	assert_int_equal(len, 5);
	assert_string_equal(b, "hello");
	free(b);
	w = ssh_answer_word(ssh_answer_line(ans, "CF-UNDO"));
	assert_string_equal(w, "a");
	free(w);
	assert_null(ssh_answer_word(ssh_answer_line(ans, "CF-NONE")));
	/* Cut short: no CF-END. */
	assert_null(ssh_answer_block(ssh_answer_line("CF-OK\naGVs\n",
	    "CF-OK"), &len));
	/* Not base64. */
	assert_null(ssh_answer_block(ssh_answer_line("CF-OK\n*!\nCF-END\n",
	    "CF-OK"), &len));
}

static void test_files(void **state)
{
	struct transport_entry *e;
	size_t n;

	(void)state;
	assert_int_equal(ssh_answer_files("CF-OK\n"
	    "CF-FILE YS5wZW0=\naGVsbG8=\nCF-END\n"
	    "CF-FILE Yi5wZW0=\nCF-END\n", 5, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].name, "a.pem");
	assert_string_equal(e[0].data, "hello");
	assert_string_equal(e[1].name, "b.pem");
	assert_int_equal(e[1].len, 0);
	ssh_answer_files_free(e, n);
	assert_int_equal(ssh_answer_files("CF-OK\n", 5, &e, &n), 0);
	assert_int_equal(n, 0);
	ssh_answer_files_free(e, n);
	/* A file whose data is cut short. */
	assert_int_equal(ssh_answer_files("CF-OK\nCF-FILE YS5wZW0=\naGVs\n",
	    5, &e, &n), CF_ETRANSPORT);
	/* A file over the limit fails them all: the helper sends any size. */
	assert_int_equal(ssh_answer_files("CF-OK\n"
	    "CF-FILE YS5wZW0=\naGVsbG8=\nCF-END\n", 4, &e, &n), CF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_find_line),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_block_and_words),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests_name("ssh frame", tests, NULL, NULL);
}
