/*
 * One server's job: the state machine of DESIGN.md, driven by callbacks on
 * the loop. Internal to the engine (engine.c starts jobs and hears when
 * they end); nothing outside engine/ includes this.
 */
#ifndef CF_JOB_H
#define CF_JOB_H

#include "engine/assign/assign.h"
#include "engine/chain/chain.h"
#include "engine/base/container_of.h"
#include "engine/job/engine.h"
#include "engine/job/job_state.h"
#include "engine/journal/journal.h"

#include <openssl/x509.h>
#include <uv.h>

struct engine;

struct job {
	struct engine *e;
	size_t i;                   /* target and report row index */
	const struct engine_target *tg;
	enum job_state state;
	struct transport *t;
	struct journal_request rq;  /* the journal row, when journaled */
	char *current[USAGE_MAX];   /* inspect: what each usage holds */
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
	bool current_only;          /* up to date: checking what is there */
	size_t import_next;         /* the next missing CA to look at */
	char import_note[512];      /* CAs not imported, and why */
	STACK_OF(X509) *certs;      /* issued leaf, then the CA's chain */
	struct chain_verdict verdict;
	uv_timer_t timer;           /* pending: waiting to poll again */
	uint64_t pending_since;     /* uv_now of the first pending, or 0 */
	int chain_pick;             /* 0: the CA's first chain; n: alternate n */
	bool timer_open;
	uv_work_t work;
	struct assign assign;       /* while assigning */
	enum report_status outcome; /* what the report says */
	char *denied_hash;          /* the last request was denied: what it
	                               asked (req_spec_hash), or NULL */
	char *denied_error;         /* and why */
	int64_t denied_at;
	char error[1200];
	int closing;                /* handles and transport still closing */
};

/* Starts target i's job; it reports its end through engine_job_done. */
void job_start(struct engine *e, size_t i);

/*
 * Shared by job.c and the files of its steps (job_inspect.c, job_issue.c,
 * job_chain.c, job_assign.c); nothing else calls these.
 */

/* Largest file a job reads from a server or the state directory. */
#define JOB_FILE_MAX (1024 * 1024)

/* key_path of a key made on the server (keygen = "server"): the prefix,
 * then the server path where it waits. */
#define JOB_REMOTE_KEY_PREFIX "server:"

/* Moves to next (journaled); false when that failed and the job ended. */
bool job_advance(struct job *j, enum job_state next, const char *detail);

/*
 * Ends the job failed for this run; fmt NULL keeps the message already in
 * j->error. A request holding an issued certificate stays open, so the
 * next run checks and assigns that same certificate; any other request
 * goes to failed.
 */
void job_fail(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the job and its request failed: what was issued is unusable (no
 * certificate, another key, the key lost), so the next run asks anew. */
void job_drop(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Where a key made here waits for request id: keys_dir/NAME-ID.key
 * (malloc'd; NULL when out of memory). */
char *job_local_key_path(const struct job *j, int64_t id);

/* The hash of what the server's request asks of this run's CA. */
int job_request_hash(const struct job *j, char out[65]);

/*
 * Reads issued together (inspect's usages, the chain check's two stores)
 * finish in any order; each failure is noted here under its index, and
 * the job fails once all are back, with the failure of the lowest index,
 * so the message does not depend on which answer came first.
 */
void job_read_failed(struct job *j, int at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True when every read issued together is back and none failed; when the
 * last is back with a failure, the job has failed (the noted message). */
bool job_reads_done(struct job *j);

/* Ends the job with outcome in its report row and frees it once closed. */
void job_finish(struct job *j, enum report_status outcome);

void job_inspect(struct job *j);        /* job_inspect.c */
void job_keygen(struct job *j);         /* job_issue.c */
void job_submit(struct job *j);
int job_load_issued(struct job *j);
void job_chain_read(struct job *j);     /* job_chain.c */
void job_assign(struct job *j);         /* job_assign.c */

/* The engine, as a job needs it. */
struct engine {
	uv_loop_t *loop;
	const struct engine_config *cfg;
	struct report *report;
	size_t next;                /* the next target to start */
	size_t active;
	size_t done;
	uv_signal_t sig[2];         /* SIGINT, SIGTERM: start nothing new */
	bool stopping;
};

/* Called once per job, after its handles are closed and it is freed. */
void engine_job_done(struct engine *e);

static inline const struct engine_config *job_cfg(const struct job *j)
{
	return j->e->cfg;
}

#endif

