/*
 * One server's job: the state machine of DESIGN.md. job.c holds the one
 * step function that says what a job does next (job_step, a switch over
 * the state) and the one setter through which its state changes; the
 * files of the steps (job_inspect.c, job_issue.c, job_chain.c,
 * job_assign.c) each start their state's work, and when it is back, hand
 * the job to job_step again. They never call each other. Internal to the
 * engine: engine.c starts jobs and hears when they end.
 */
#ifndef CF_JOB_H
#define CF_JOB_H

#include "engine/assign/assign.h"
#include "engine/base/container_of.h"
#include "engine/chain/chain.h"
#include "engine/job/engine.h"
#include "engine/job/group_commit.h"
#include "engine/job/inspect.h"
#include "engine/job/job_state.h"
#include "engine/journal/journal.h"
#include "engine/rollout/verify.h"

#include <openssl/x509.h>
#include <uv.h>

/* Where a state's work stands. */
enum job_phase {
	JOB_ENTER,                  /* the state's work is still to start */
	JOB_WORKING,                /* it runs; its callback calls job_step */
	JOB_DURABLE,                /* the new state waits for its commit */
	JOB_BACK                    /* it is back: choose the next state */
};

struct job {
	uv_loop_t *loop;
	const struct engine_config *cfg;
	const struct engine_target *tg;
	size_t i;                   /* target and report row index */
	struct report_row *row;     /* this server's report row */
	struct engine *eng;         /* hears the job park and end */
	enum job_state state;
	enum job_phase phase;
	bool stepping;              /* inside job_step */
	bool ending;                /* job_end has run */
	struct transport *t;
	struct journal_request rq;  /* the journal row, when journaled */

	/* What the state's work found, for job_step's choice. */
	bool failed;                /* the work failed; error says why */
	bool fail_close;            /* and what was issued is unusable */
	int resumed;                /* inspect: the state an earlier run left
	                               the open request in, or -1 */
	struct inspect_result insp; /* inspect: due or not, and why */
	int answer;                 /* submit, poll: enum ca_answer */
	int retry_after;            /* pending: seconds, -1 not in this run */
	bool waited;                /* pending: the timer ran (else: stop) */
	bool assigned;              /* assign: every usage holds it */
	int release;                /* ready: RELEASE_* the engine chose */
	bool verified;              /* verify: every check served it */
	int verify_left;            /* verify: checks in flight */

	char *current[USAGE_CAP];   /* inspect: what each usage holds */
	int reads;                  /* reads in flight */
	int read_failed;            /* 1 + the index (usage, or store: 0
	                               roots, 1 intermediates) of the
	                               failed read first in that order;
	                               0: none failed */
	char read_error[1200];      /* that read's message */
	struct cert_store roots;
	struct cert_store inters;
	char *bundle[2];            /* a store that is one file: its bytes,
	                               [0] roots, [1] intermediates */
	bool imported;              /* the import was tried this run */
	size_t import_next;         /* the next missing CA to look at */
	char import_note[512];      /* CAs not imported, and why */
	STACK_OF(X509) *certs;      /* the leaf checked, then its chain */
	struct chain_verdict verdict;
	uv_timer_t timer;           /* pending: waiting to poll again */
	uint64_t pending_since;     /* uv_now of the first pending, or 0 */
	int chain_pick;             /* 0: the CA's first chain; n: alternate n */
	struct assign assign;       /* while assigning */
	enum report_status outcome; /* how a job that ends in a state that
	                               is not final is reported */
	char *denied_hash;          /* the last request was denied: what it
	                               asked (req_spec_hash), or NULL */
	char *denied_error;         /* and why */
	int64_t denied_at;
	char error[1200];
	char why[512];              /* a transition's reason, when composed */
	int closing;                /* handles and transport still closing */
	struct gc_waiter durable;   /* waiting for the journal's commit */
	void (*then_durable)(struct job *j, int status, const char *msg);
};

/* What the engine tells a job waiting in ready. */
enum { RELEASE_NONE, RELEASE_ASSIGN, RELEASE_HOLD };

/*
 * Starts target i's job on loop, row its report row; the engine hears
 * (engine_job_parked) when it waits for its batch and (engine_job_ended)
 * once it has ended and is freed.
 */
void job_start(uv_loop_t *loop, const struct engine_config *cfg, size_t i,
    struct report_row *row, struct engine *eng);

/* A parked job goes on: to its assignment (assign), or it ends held;
 * why is journaled with it. */
void job_release(struct job *j, bool assign, const char *why);

/* engine.c, for the jobs. */
void engine_job_parked(struct engine *e, struct job *j);
void engine_job_ended(struct engine *e, size_t i);
struct verify_pool *engine_verify_pool(struct engine *e);
/* The run's group commit, NULL when nothing is journaled. */
struct group_commit *engine_group_commit(struct engine *e);

/* Runs the job on until it waits for I/O or ends: the one place that says
 * what a job does next. */
void job_step(struct job *j);

/* ---- for the step files ---- */

/* Largest file a job reads from a server or the state directory. */
#define JOB_FILE_MAX (1024 * 1024)

/* key_path of a key made on the server (keygen = "server"): the prefix,
 * then the server path where it waits. */
#define JOB_REMOTE_KEY_PREFIX "server:"

/*
 * What the job wrote to the journal is not durable until the engine's next
 * group commit: a step that starts a side effect after writing calls this
 * first. Returns false when nothing waits to be committed (go on now);
 * true when then(j, status, msg) runs once the commit is done (status 0)
 * or has failed (the write is lost; the job must not act on it).
 */
bool job_wait_durable(struct job *j,
    void (*then)(struct job *j, int status, const char *msg));

/* Queues run (threadpool) and after (loop) on w for j; false when it could
 * not (the job has failed then, saying it could not queue what; the caller
 * frees what holds w). */
bool job_queue(struct job *j, uv_work_t *w, uv_work_cb run,
    uv_after_work_cb after, const char *what);

/* The state's work is back: job_step chooses what comes next. */
void job_back(struct job *j);

/*
 * The state's work failed (fmt NULL keeps j->error); job_step then ends
 * the job. close: what was issued is unusable (no certificate, another
 * key, the key lost) and the request goes to failed, so the next run asks
 * anew; otherwise a request holding an issued certificate stays open for
 * the next run, and any other goes to failed.
 */
void job_failed(struct job *j, bool close, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Where a key made here waits for request id: keys_dir/NAME-ID.key
 * (malloc'd; NULL when out of memory). */
char *job_local_key_path(const struct job *j, int64_t id);

/* The hash of what the server's request asks of this run's CA. */
int job_request_hash(const struct job *j, char out[65]);

/*
 * Reads issued together (inspect's usages, the chain check's two stores)
 * finish in any order; each failure is noted here under its index, and
 * the work fails once all are back, with the failure of the lowest index,
 * so the message does not depend on which answer came first.
 */
void job_read_failed(struct job *j, int at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True when every read issued together is back and none failed; when the
 * last is back with a failure, the work has failed (job_failed). */
bool job_reads_done(struct job *j);

/* Saves the request row with an event (detail) and the state unchanged:
 * a status the CA gave on the way, an import. A failed write is noted in
 * j->error's stead only where it matters to the caller. */
int job_note(struct job *j, const char *detail);

/* The work of each state; job_step starts it. */
void job_inspect_enter(struct job *j);      /* job_inspect.c */
void job_keygen_enter(struct job *j);       /* job_issue.c */
void job_ask_enter(struct job *j);          /* submit, poll */
void job_wait_enter(struct job *j);         /* pending */
int job_load_issued(struct job *j);
void job_chain_enter(struct job *j);        /* job_chain.c: check_current,
                                               preflight, chain_check */
void job_assign_enter(struct job *j);       /* job_assign.c */
void job_verify_enter(struct job *j);       /* job_verify.c */
/* The usages that hold the new certificate, in the report row and the
 * request (job_assign.c). */
void job_usages_hold(struct job *j, unsigned usages);
bool job_verify_applies(struct job *j);

/* inspect's choice (job_inspect.c): plan's precheck and a remembered
 * denial. */
bool job_plan_denied(struct job *j);
bool job_denial_stands(struct job *j);

#endif
