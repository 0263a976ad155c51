/*
 * One run over the fleet on one libuv loop: a job per server, at most
 * `concurrency` of them active, each an explicit state machine (job.c).
 * The engine knows servers only as engine_target: a name, a request spec,
 * usages, store paths and a way to open the server's transport. It never
 * reads the fleet file and never prints; the report is its output.
 */
#ifndef CF_ENGINE_H
#define CF_ENGINE_H

#include "engine/ca/ca.h"
#include "engine/job/job_state.h"
#include "engine/journal/journal.h"
#include "engine/report/report.h"
#include "engine/base/renew.h"
#include "engine/base/reqspec.h"
#include "engine/transport/transport.h"
#include "engine/base/usage.h"
#include "engine/rollout/rollout.h"

#include <stdbool.h>
#include <time.h>
#include <uv.h>

enum engine_mode {
	ENGINE_RUN,                 /* request what is due, check, assign */
	ENGINE_PLAN,                /* inspect and preflight only; no writes */
	ENGINE_ASSIGN               /* assign what was issued; no requests */
};

/* One server as the engine sees it. Borrowed: the caller keeps every
 * target alive until engine_run returns. */
struct engine_target {
	const char *name;
	const char *address;        /* for reload commands, or NULL */
	const struct req_spec *spec;
	const struct renew_policy *renew;       /* when due, jitter, key
	                                           reuse; NULL: the config's
	                                           renew_before_days */
	const struct usage_table *utab;     /* the fleet's usages; NULL:
	                                       the predefined three */
	unsigned usages;            /* bit (1 << index in utab) */
	const struct store_paths *store;
	const struct usage_binding *bindings;   /* [utab->n] */
	bool keygen_remote;         /* the transport makes the key on the
	                               server; it never reaches this machine */
	const char *webroot;        /* where a CA's proof files go (http-01),
	                               or NULL */
	const char *verify_address; /* where verify connects (the address) */
	const struct rollout_verify *verify;    /* in a staged rollout */
	size_t nverify;
	enum ca_approval approval;  /* handed to the CA with each request */
};

/*
 * A staged rollout: issuance runs at full concurrency, then assignment
 * goes batch by batch (engine/rollout/rollout.h), each assigned server
 * proven to serve its new certificate, and a brake stops it once failures
 * exceed policy.max_failures.
 */
struct engine_rollout {
	struct rollout_policy policy;
	const bool *canary;         /* per target, or NULL */
	bool verify;                /* false: assign without verifying */
	unsigned verify_timeout_ms;
};

/* Opens target i's transport on loop; 0 or a CF_E* code with msg. */
typedef int (*engine_open_fn)(void *ctx, size_t i, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz);

/*
 * Called on the loop thread at every transition of target i's job (from
 * -> to, and why; why may be NULL), and once when the job ends (end true,
 * from and to its last state, why the report status). A trace and the
 * progress display are fed from here.
 */
typedef void (*engine_observe_fn)(void *ctx, size_t i, enum job_state from,
    enum job_state to, const char *why, bool end);

struct engine_config {
	enum engine_mode mode;
	const char *fleet;          /* its name, for reload commands */
	int concurrency;
	int renew_before_days;      /* for targets without a renew policy */
	bool force;                 /* re-issue even when up to date */
	bool assign;                /* false: stop at issued (held) */
	bool import_ca;             /* import pinned CAs a server lacks */
	char *const *trusted_pins;  /* SHA-256 hex (upper case) of the CA
	                               certificates import_ca may install */
	size_t npins;
	time_t now;
	const char *keys_dir;       /* where keys wait for assignment (0700) */
	struct journal *journal;    /* NULL in plan mode */
	int64_t run_id;             /* the journal's run row */
	struct ca_driver *ca;
	const char *ca_chain_pem;   /* issuing CA first; plan's preflight */
	const struct engine_target *targets;
	size_t ntargets;
	engine_open_fn open;
	engine_observe_fn observe;  /* or NULL */
	void *ctx;                  /* for open and observe */
	int max_wait_s;             /* longest a server waits on the CA
	                               within a run; then it stays pending */
	const struct engine_rollout *rollout;   /* NULL: every server is
	                                           assigned when ready */
};

/*
 * Runs every target to an end state for this run on loop, filling report
 * (initialised by the caller) with one row per target, in target order.
 * Returns 0 when the run itself worked, whatever each server's fate; a
 * CF_E* code with msg when it could not run at all.
 */
int engine_run(uv_loop_t *loop, const struct engine_config *cfg,
    struct report *report, char *msg, size_t msgsz);

#endif
