/*
 * The CLI's commands. Only cmd/ prints to the terminal and chooses exit
 * codes; every command returns one of the CMD_EXIT_* codes below.
 */
#ifndef CF_CMD_H
#define CF_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cmd_exit {
	CMD_EXIT_OK = 0,            /* every server done, or nothing due */
	CMD_EXIT_FAILED = 1,        /* a server failed, was denied, lacks a CA */
	CMD_EXIT_USAGE = 2,         /* usage or configuration error */
	CMD_EXIT_LOCKED = 3         /* another run holds the lock */
};

struct cmd_opts {
	bool json;
	bool quiet;
	bool force;
	bool no_assign;             /* stop at issued, like unticking "assign" */
	bool all;                   /* approve: every pending server */
	bool import_ca;             /* import CAs pinned in ca.trusted_roots */
	bool verbose;               /* trace every transition on stderr */
	const char **limit;         /* --limit values (comma lists of names,
	                               groups, globs); see fleet_select */
	size_t nlimit;
	const char **exclude;       /* --exclude values, the same syntax */
	size_t nexclude;
	const char *batch;          /* --batch N|P%: servers per batch */
	const char *max_failures;   /* --max-failures N|P% */
	const char *canary;         /* --canary LIST */
	bool no_verify;             /* --no-verify: assign without proving */
	const char *metrics;        /* --metrics FILE, or NULL */
	const char *fleet;          /* the fleet file */
	char **args;                /* operands after the fleet file */
	int nargs;
};

struct fleet;
struct journal;
struct report;
struct server;

/* Loads the fleet file, printing every problem; CMD_EXIT_OK or _USAGE.
 * The caller releases f either way. */
int cmd_fleet_load(struct fleet *f, const char *path);

/* Opens the fleet's journal if a run has made one (*found), printing a
 * failure. Returns the exit code. */
int cmd_journal_of(const struct fleet *f, struct journal *jr, bool *found);

/* The servers --limit and --exclude choose, in inventory order, as a new
 * array in *out (freed by the caller, also on failure); prints why none.
 * Returns CMD_EXIT_OK, or _USAGE for a pattern that matches nothing. */
int cmd_select(const struct fleet *f, const struct cmd_opts *o,
    const struct server ***out, size_t *n);

/* Prints j (NULL: out of memory) on stdout, indented, and drops it. */
void cmd_print_json(json_t *j);

/* Prints a report as a table, or as JSON with --json. */
void cmd_print_report(const struct cmd_opts *o, struct report *rep);

/* Wall-clock milliseconds, for a report's duration. */
int64_t cmd_now_ms(void);

/*
 * With --metrics, writes rep as Prometheus metrics to that file
 * (atomically, mode 0644), reading what each server holds and the last
 * success from jr, or from the fleet's journal when jr is NULL (plan).
 * Returns exit_code, or CMD_EXIT_FAILED in its place when it was 0 and
 * the file could not be written (said on stderr).
 */
int cmd_write_metrics(const struct cmd_opts *o, const struct fleet *f,
    struct journal *jr, const struct report *rep, int exit_code);

/*
 * After run and assign: runs the fleet's after_run hook, if it has one,
 * once, with rep as a JSON file (CERTFLEET_REPORT) and exit_code
 * (CERTFLEET_EXIT) in its environment, and waits for it. A hook that
 * cannot start, times out or fails is said on stderr; nothing else
 * changes.
 */
void cmd_after_run(const struct fleet *f, const struct report *rep,
    int exit_code);

int cmd_check(const struct cmd_opts *o);
int cmd_ca_init(const struct cmd_opts *o);
int cmd_run(const struct cmd_opts *o);
int cmd_plan(const struct cmd_opts *o);
int cmd_assign(const struct cmd_opts *o);
int cmd_status(const struct cmd_opts *o);
int cmd_approve(const struct cmd_opts *o);
int cmd_show(const struct cmd_opts *o);

#endif
