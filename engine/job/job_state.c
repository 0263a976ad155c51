/*
 * The transition table. Resumption depends on it: a journal row in SUBMIT
 * or later means the CA may already hold a request, so a rerun continues
 * that request instead of making a new one. A job that fails while its
 * request holds an issued certificate (issued, chain_check, assign) keeps
 * the request where it is for the next run; only one whose certificate
 * cannot be used goes to failed (assign -> failed: its key is gone). An
 * up-to-date server's check (check_current) and plan's (preflight) are
 * states of their own. In a staged rollout a checked job waits in ready
 * for its batch, and after its assignment proves in verify that the
 * server serves the new certificate; one that does not ends in
 * verify_failed, its request kept, so the next run assigns that same
 * certificate again instead of asking for another. Every transition here is taken by some scenario of
 * tests/unit/test_engine.c.
 */
#include "engine/job/job_state.h"

#include <string.h>

#define B(s) (1u << (s))

static const struct {
	const char *name;
	unsigned next;              /* bit set of the states it may go to */
} states[JOB_STATE_MAX] = {
	[JOB_INSPECT] = { "inspect", B(JOB_CHECK_CURRENT) | B(JOB_PREFLIGHT) |
	    B(JOB_WOULD_DENY) | B(JOB_KEYGEN) | B(JOB_FAILED) | B(JOB_POLL) |
	    B(JOB_CHAIN_CHECK) | B(JOB_DENIED) },
	[JOB_CHECK_CURRENT] = { "check_current", B(JOB_UP_TO_DATE) |
	    B(JOB_FAILED) },
	[JOB_UP_TO_DATE] = { "up_to_date", 0 },
	[JOB_PREFLIGHT] = { "preflight", B(JOB_WOULD_ISSUE) | B(JOB_FAILED) },
	[JOB_WOULD_ISSUE] = { "would_issue", 0 },
	[JOB_WOULD_DENY] = { "would_deny", 0 },
	[JOB_KEYGEN] = { "keygen", B(JOB_SUBMIT) | B(JOB_FAILED) },
	[JOB_SUBMIT] = { "submit", B(JOB_ISSUED) | B(JOB_PENDING) |
	    B(JOB_DENIED) | B(JOB_FAILED) },
	[JOB_PENDING] = { "pending", B(JOB_POLL) },
	[JOB_POLL] = { "poll", B(JOB_ISSUED) | B(JOB_PENDING) |
	    B(JOB_DENIED) | B(JOB_FAILED) },
	[JOB_ISSUED] = { "issued", B(JOB_CHAIN_CHECK) },
	[JOB_DENIED] = { "denied", 0 },
	[JOB_FAILED] = { "failed", 0 },
	[JOB_CHAIN_CHECK] = { "chain_check", B(JOB_CHAIN_FAILED) | B(JOB_HELD) |
	    B(JOB_READY) | B(JOB_ASSIGN) },
	[JOB_CHAIN_FAILED] = { "chain_failed", 0 },
	[JOB_HELD] = { "held", 0 },
	[JOB_READY] = { "ready", B(JOB_ASSIGN) },
	[JOB_ASSIGN] = { "assign", B(JOB_VERIFY) | B(JOB_ASSIGNED) |
	    B(JOB_ASSIGN_FAILED) | B(JOB_FAILED) },
	[JOB_VERIFY] = { "verify", B(JOB_ASSIGNED) | B(JOB_VERIFY_FAILED) },
	[JOB_ASSIGNED] = { "assigned", 0 },
	[JOB_ASSIGN_FAILED] = { "assign_failed", 0 },
	[JOB_VERIFY_FAILED] = { "verify_failed", 0 },
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_STATE_MAX ? states[s].name : "invalid";
}

int job_state_from_name(const char *name)
{
	int i;

	for (i = 0; i < JOB_STATE_MAX; i++)
		if (strcmp(states[i].name, name) == 0)
			return i;
	return -1;
}

bool job_transition_allowed(enum job_state from, enum job_state to)
{
	if ((unsigned)from >= JOB_STATE_MAX || (unsigned)to >= JOB_STATE_MAX)
		return false;
	return (states[from].next & B(to)) != 0;
}

bool job_state_final(enum job_state s)
{
	return (unsigned)s < JOB_STATE_MAX && states[s].next == 0;
}

/* The states of a request the CA has, or may have, or has answered with
 * a certificate not assigned yet. */
#define HOLDS (B(JOB_SUBMIT) | B(JOB_PENDING) | B(JOB_POLL) | \
	B(JOB_ISSUED) | B(JOB_CHAIN_CHECK) | B(JOB_CHAIN_FAILED) | \
	B(JOB_HELD) | B(JOB_READY) | B(JOB_ASSIGN) | B(JOB_VERIFY) | \
	B(JOB_ASSIGN_FAILED) | B(JOB_VERIFY_FAILED))

bool job_state_holds_request(enum job_state s)
{
	return (unsigned)s < JOB_STATE_MAX && (HOLDS & B(s)) != 0;
}
