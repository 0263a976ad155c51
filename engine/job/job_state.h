/*
 * The states of one server's job and the transitions between them: the one
 * table the engine, the journal and the reports all read. A job changes
 * state only through a transition this table allows.
 */
#ifndef CF_JOB_STATE_H
#define CF_JOB_STATE_H

#include <stdbool.h>

enum job_state {
	JOB_INSPECT,                /* reading the server's current assignment */
	JOB_CHECK_CURRENT,          /* nothing due: checking that the stores
	                               still verify what the server holds */
	JOB_UP_TO_DATE,             /* final: nothing due on this server */
	JOB_PREFLIGHT,              /* plan: would the CA's chain verify here */
	JOB_WOULD_ISSUE,            /* final (plan): a run would request one */
	JOB_WOULD_DENY,             /* final (plan): the CA's policy refuses */
	JOB_KEYGEN,                 /* key and CSR being made (threadpool) */
	JOB_SUBMIT,                 /* the CSR is with the CA driver */
	JOB_PENDING,                /* the CA said pending: waiting retry-after */
	JOB_POLL,                   /* asking the CA again about the request */
	JOB_ISSUED,                 /* certificate received, chain not checked */
	JOB_DENIED,                 /* final: the CA refused the request */
	JOB_FAILED,                 /* final: an error before issuance */
	JOB_CHAIN_CHECK,            /* reading the server's stores, diagnosing */
	JOB_CHAIN_FAILED,           /* final: issued, the chain does not verify
	                               on the server (a CA missing, or invalid) */
	JOB_HELD,                   /* final: issued, assignment switched off */
	JOB_READY,                  /* chain checked, waiting for its batch of
	                               a staged rollout (or held by its brake) */
	JOB_ASSIGN,                 /* installing for each usage, then reloads */
	JOB_VERIFY,                 /* proving by TLS handshakes that the
	                               server serves what it was given */
	JOB_ASSIGNED,               /* final: every usage holds the certificate */
	JOB_ASSIGN_FAILED,          /* final: rolled back to the previous set */
	JOB_VERIFY_FAILED,          /* final: another certificate was served;
	                               rolled back where one was before */
	JOB_STATE_MAX               /* not a state */
};

/* The state's name in logs, the journal and --json ("chain_check"). */
const char *job_state_name(enum job_state s);

/* The state called name, or -1. */
int job_state_from_name(const char *name);

/* True when a job may go from one state to the other. */
bool job_transition_allowed(enum job_state from, enum job_state to);

/* True when no transition leaves s. */
bool job_state_final(enum job_state s);

/*
 * True when a run that finds a job in s (from the journal of a killed run)
 * must not issue again: the CA has, or may have, a request for it, or
 * has issued a certificate that is still to be assigned.
 */
bool job_state_holds_request(enum job_state s);

#endif
