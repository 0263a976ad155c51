/* The job state table: names, allowed transitions, final states. */
#include "tests/unit/unit.h"
#include "engine/job/job_state.h"

#include <string.h>

static void test_names_round_trip(void **state)
{
	int s;

	(void)state;
	for (s = 0; s < JOB_STATE_MAX; s++) {
		assert_non_null(job_state_name((enum job_state)s));
		assert_int_equal(job_state_from_name(
		    job_state_name((enum job_state)s)), s);
	}
	assert_string_equal(job_state_name(JOB_CHAIN_CHECK), "chain_check");
	assert_string_equal(job_state_name(JOB_STATE_MAX), "invalid");
	assert_int_equal(job_state_from_name("nope"), -1);
}

static void test_happy_path(void **state)
{
	static const enum job_state path[] = {
		JOB_INSPECT, JOB_KEYGEN, JOB_SUBMIT, JOB_PENDING, JOB_POLL,
		JOB_PENDING, JOB_POLL, JOB_ISSUED, JOB_CHAIN_CHECK, JOB_ASSIGN,
		JOB_ASSIGNED,
	};
	size_t i;

	(void)state;
	for (i = 1; i < sizeof(path) / sizeof(path[0]); i++)
		assert_true(job_transition_allowed(path[i - 1], path[i]));
	assert_true(job_state_final(JOB_ASSIGNED));
}

static void test_refused_transitions(void **state)
{
	(void)state;
	/* No issuance without a key, no assignment without a chain check. */
	assert_false(job_transition_allowed(JOB_INSPECT, JOB_SUBMIT));
	assert_false(job_transition_allowed(JOB_ISSUED, JOB_ASSIGN));
	assert_false(job_transition_allowed(JOB_CHAIN_FAILED, JOB_ASSIGN));
	assert_false(job_transition_allowed(JOB_PENDING, JOB_ISSUED));
	assert_false(job_transition_allowed(JOB_ASSIGNED, JOB_INSPECT));
	assert_false(job_transition_allowed(JOB_SUBMIT, JOB_KEYGEN));
	assert_false(job_transition_allowed(JOB_STATE_MAX, JOB_INSPECT));
	assert_false(job_transition_allowed(JOB_INSPECT, JOB_STATE_MAX));
}

static void test_final_states(void **state)
{
	int s, t;

	(void)state;
	for (s = 0; s < JOB_STATE_MAX; s++) {
		bool any = false;

		for (t = 0; t < JOB_STATE_MAX; t++)
			any |= job_transition_allowed((enum job_state)s,
			    (enum job_state)t);
		assert_int_equal(!any, job_state_final((enum job_state)s));
	}
	assert_true(job_state_final(JOB_UP_TO_DATE));
	assert_true(job_state_final(JOB_DENIED));
	assert_true(job_state_final(JOB_FAILED));
	assert_false(job_state_final(JOB_PENDING));
}

static void test_every_state_reaches_a_final_one(void **state)
{
	int s, t, round;
	bool reach[JOB_STATE_MAX] = { false };

	(void)state;
	for (s = 0; s < JOB_STATE_MAX; s++)
		reach[s] = job_state_final((enum job_state)s);
	for (round = 0; round < JOB_STATE_MAX; round++)
		for (s = 0; s < JOB_STATE_MAX; s++)
			for (t = 0; t < JOB_STATE_MAX; t++)
				if (reach[t] && job_transition_allowed(
				    (enum job_state)s, (enum job_state)t))
					reach[s] = true;
	for (s = 0; s < JOB_STATE_MAX; s++)
		assert_true(reach[s]);
}

static void test_resume_rules(void **state)
{
	(void)state;
	/* Once submitted, a rerun must continue, never issue again. */
	assert_false(job_state_holds_request(JOB_INSPECT));
	assert_false(job_state_holds_request(JOB_KEYGEN));
	assert_true(job_state_holds_request(JOB_SUBMIT));
	assert_true(job_state_holds_request(JOB_PENDING));
	assert_true(job_state_holds_request(JOB_ISSUED));
	assert_true(job_state_holds_request(JOB_CHAIN_FAILED));
	assert_true(job_state_holds_request(JOB_ASSIGN_FAILED));
	assert_false(job_state_holds_request(JOB_ASSIGNED));
	assert_false(job_state_holds_request(JOB_DENIED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_happy_path),
		cmocka_unit_test(test_refused_transitions),
		cmocka_unit_test(test_final_states),
		cmocka_unit_test(test_every_state_reaches_a_final_one),
		cmocka_unit_test(test_resume_rules),
	};
	return cmocka_run_group_tests_name("job_state", tests, NULL, NULL);
}
