/*
 * The rollout's arithmetic: amounts as numbers or percentages, batches in
 * inventory order after the canary, at least one server a batch, and the
 * brake that trips once failures exceed the allowance (any failure in the
 * canary batch).
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/rollout/rollout.h"

#include <string.h>

static void test_amounts(void **state)
{
	struct rollout_amount a;
	char msg[128], buf[16];

	(void)state;
	assert_int_equal(rollout_amount_parse("3", &a, msg, sizeof msg), 0);
	assert_int_equal(a.value, 3);
	assert_false(a.percent);
	assert_int_equal(rollout_amount_parse("25%", &a, msg, sizeof msg), 0);
	assert_int_equal(a.value, 25);
	assert_true(a.percent);
	rollout_amount_format(a, buf, sizeof buf);
	assert_string_equal(buf, "25%");
	assert_int_equal(rollout_amount_parse("0", &a, msg, sizeof msg), 0);
	assert_int_equal(rollout_amount_parse("101%", &a, msg, sizeof msg),
	    CF_EINVAL);
	assert_non_null(strstr(msg, "'101%' is not a number or a percentage"));
	assert_int_equal(rollout_amount_parse("-1", &a, msg, sizeof msg),
	    CF_EINVAL);
	assert_int_equal(rollout_amount_parse("2x", &a, msg, sizeof msg),
	    CF_EINVAL);
	assert_int_equal(rollout_amount_parse("", &a, msg, sizeof msg),
	    CF_EINVAL);
	assert_int_equal(rollout_amount_parse("%", &a, msg, sizeof msg),
	    CF_EINVAL);
	assert_int_equal(rollout_amount_parse("99999999999", &a, msg,
	    sizeof msg), CF_EINVAL);
}

static void expect_batch(const struct rollout_plan *p, size_t b,
    const size_t *want, size_t n)
{
	size_t i;

	assert_int_equal(rollout_batch_size(p, b), n);
	for (i = 0; i < n; i++)
		assert_int_equal(p->order[p->start[b] + i], want[i]);
}

/* The example: 12 servers, canary 1, batch 25 %: the canary, then
 * 11 servers in batches of 3 (25 % of the 12 due), the last of 2. */
static void test_canary_then_percent(void **state)
{
	struct rollout_policy pol = { { 25, true }, { 0, false }, 0 };
	struct rollout_plan p;
	size_t due[12], i;
	bool canary[12] = { false };

	(void)state;
	for (i = 0; i < 12; i++)
		due[i] = i;
	canary[5] = true;
	assert_int_equal(rollout_plan_make(&pol, due, 12, canary, &p), 0);
	assert_true(p.canary);
	assert_int_equal(p.nbatches, 5);
	expect_batch(&p, 0, (size_t[]){ 5 }, 1);
	expect_batch(&p, 1, (size_t[]){ 0, 1, 2 }, 3);
	expect_batch(&p, 2, (size_t[]){ 3, 4, 6 }, 3);
	expect_batch(&p, 4, (size_t[]){ 10, 11 }, 2);
	assert_int_equal(rollout_batch_size(&p, 5), 0);
	rollout_plan_release(&p);
}

/* No batch set: one batch of all; a small percentage is still one a
 * batch; a canary not due is no batch at all. */
static void test_edges(void **state)
{
	struct rollout_policy all = { { 0, false }, { 0, false }, 0 };
	struct rollout_policy pct = { { 10, true }, { 0, false }, 0 };
	struct rollout_policy three = { { 3, false }, { 0, false }, 0 };
	struct rollout_plan p;
	size_t due[] = { 1, 2, 4, 7 };
	bool canary[8] = { false };

	(void)state;
	assert_int_equal(rollout_plan_make(&all, due, 4, NULL, &p), 0);
	assert_int_equal(p.nbatches, 1);
	assert_false(p.canary);
	expect_batch(&p, 0, due, 4);
	rollout_plan_release(&p);

	assert_int_equal(rollout_plan_make(&pct, due, 4, NULL, &p), 0);
	assert_int_equal(p.nbatches, 4);
	rollout_plan_release(&p);

	canary[0] = true;           /* not due: no canary batch */
	assert_int_equal(rollout_plan_make(&three, due, 4, canary, &p), 0);
	assert_false(p.canary);
	assert_int_equal(p.nbatches, 2);
	expect_batch(&p, 1, (size_t[]){ 7 }, 1);
	rollout_plan_release(&p);

	assert_int_equal(rollout_plan_make(&three, NULL, 0, NULL, &p), 0);
	assert_int_equal(p.nbatches, 0);
	rollout_plan_release(&p);

	canary[1] = canary[2] = canary[4] = canary[7] = true;
	assert_int_equal(rollout_plan_make(&three, due, 4, canary, &p), 0);
	assert_int_equal(p.nbatches, 1);
	assert_true(p.canary);
	rollout_plan_release(&p);
}

static void test_brake(void **state)
{
	struct rollout_amount zero = { 0, false }, one = { 1, false };
	struct rollout_amount quarter = { 25, true };

	(void)state;
	assert_false(rollout_brake_tripped(zero, 12, 0, false));
	assert_true(rollout_brake_tripped(zero, 12, 1, false));
	assert_false(rollout_brake_tripped(one, 12, 1, false));
	assert_true(rollout_brake_tripped(one, 12, 2, false));
	assert_true(rollout_brake_tripped(one, 12, 1, true));
	assert_false(rollout_brake_tripped(one, 12, 0, true));
	assert_false(rollout_brake_tripped(quarter, 12, 3, false));
	assert_true(rollout_brake_tripped(quarter, 12, 4, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amounts),
		cmocka_unit_test(test_canary_then_percent),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_brake),
	};

	return cmocka_run_group_tests_name("rollout", tests, NULL, NULL);
}
