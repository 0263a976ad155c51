/*
 * certfleet's entry point: the command word, the options each command
 * accepts, dispatch and the process exit code. Nothing below cmd/ exits or
 * prints. An option a command does not use is refused, never ignored: a
 * user who typed `plan --import-ca` believes something will happen.
 */
#include "cmd/cmd.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CERTFLEET_VERSION
#error "CERTFLEET_VERSION is set by the Makefile from the VERSION file"
#endif

/* Options, one bit each, so that a command's table is one mask. */
enum opt_flags {
	OPT_JSON = 1 << 0,
	OPT_QUIET = 1 << 1,
	OPT_FORCE = 1 << 2,
	OPT_LIMIT = 1 << 3,
	OPT_EXCLUDE = 1 << 4,
	OPT_NO_ASSIGN = 1 << 5,
	OPT_ALL = 1 << 6,
	OPT_IMPORT_CA = 1 << 7,
	OPT_VERBOSE = 1 << 8,
	OPT_BATCH = 1 << 9,
	OPT_MAX_FAILURES = 1 << 10,
	OPT_CANARY = 1 << 11,
	OPT_NO_VERIFY = 1 << 12,
	OPT_METRICS = 1 << 13,
	OPT_SHARD = 1 << 14,
	OPT_HTML = 1 << 15,
	OPT_EXPLAIN = 1 << 16,
	OPT_ROLLOUT = OPT_BATCH | OPT_MAX_FAILURES | OPT_CANARY | OPT_NO_VERIFY
};

/* getopt_long's values for options that have no short form. */
enum { LONG_EXCLUDE = 256, LONG_NO_ASSIGN, LONG_ALL, LONG_IMPORT_CA,
	LONG_VERSION, LONG_BATCH, LONG_MAX_FAILURES, LONG_CANARY,
	LONG_NO_VERIFY, LONG_METRICS, LONG_SHARD, LONG_HTML, LONG_EXPLAIN };

static const struct opt_doc {
	unsigned flag;
	const char *name;           /* as typed, with its value */
	const char *help;
} opt_docs[] = {
	{ OPT_JSON, "--json", "machine-readable output (JSON)" },
	{ OPT_QUIET, "--quiet", "print only problems (for cron)" },
	{ OPT_EXPLAIN, "--explain SERVER KEY", "print SERVER's resolved KEY "
	    "(vars.NAME, store.certs...)\n                      and the "
	    "FILE:LINE of the server, group or fleet default\n"
	    "                      that sets it" },
	{ OPT_LIMIT, "--limit LIST", "only these servers: names, group names "
	    "and globs,\n                      comma-separated; repeatable" },
	{ OPT_EXCLUDE, "--exclude LIST", "not these servers (same syntax; "
	    "wins over --limit)" },
	{ OPT_SHARD, "--shard K/N", "only shard K of N: the servers whose "
	    "name's FNV-1a 64\n                      hash modulo N is K-1 "
	    "(state in STATE_DIR/shards/K-of-N)" },
	{ OPT_FORCE, "--force", "re-issue even if not due" },
	{ OPT_NO_ASSIGN, "--no-assign", "stop at issued (do not install)" },
	{ OPT_ALL, "--all", "every pending request (of the servers --limit "
	    "and\n                      --exclude choose)" },
	{ OPT_IMPORT_CA, "--import-ca", "import a CA a server lacks into its "
	    "store, only when\n                      ca.trusted_roots pins its "
	    "SHA-256" },
	{ OPT_VERBOSE, "--verbose", "trace every server's path on stderr: "
	    "SERVER: from -> to\n                      (why); also "
	    "CERTFLEET_TRACE=1" },
	{ OPT_BATCH, "--batch N|P%", "staged rollout: servers assigned per "
	    "batch" },
	{ OPT_MAX_FAILURES, "--max-failures N|P%", "staged rollout: stop "
	    "once failures exceed this" },
	{ OPT_CANARY, "--canary LIST", "staged rollout: assign these first, "
	    "as one batch" },
	{ OPT_NO_VERIFY, "--no-verify", "staged rollout: do not prove by TLS "
	    "that each server\n                      serves its new "
	    "certificate" },
	{ OPT_METRICS, "--metrics FILE", "write Prometheus metrics to FILE, "
	    "replaced atomically\n                      (node_exporter's "
	    "textfile collector)" },
	{ OPT_HTML, "--html FILE", "write the report as one HTML page to FILE, "
	    "replaced\n                      atomically (no script, nothing "
	    "fetched)" },
};

static const char exit_run[] =
"exit codes: 0 every server done or nothing due; 1 some server failed, was\n"
"denied, or lacks a CA; 2 usage or configuration error; 3 another run holds\n"
"the lock\n";

static const struct command {
	const char *name;
	int (*run)(const struct cmd_opts *);
	const char *operands;       /* after the fleet file, for usage lines */
	int min_args;               /* operands after the fleet file */
	int max_args;               /* -1: any number */
	unsigned opts;              /* enum opt_flags it accepts */
	const char *summary;        /* one line in the overall usage */
	const char *help;           /* what it does, for COMMAND --help */
	const char *exits;
} commands[] = {
	{ "check", cmd_check, " [KEY]", 0, 1, OPT_JSON | OPT_QUIET | OPT_EXPLAIN,
	  "validate the fleet file, inventory and template",
	  "Validates the fleet file, its inventory and its request templates.\n"
	  "Every problem is printed as FILE:LINE: message; nothing is written.\n"
	  "--json prints the resolved fleet (or the problems) as JSON, each\n"
	  "server with its settings as its groups and own keys resolve them.\n"
	  "--explain SERVER KEY prints one resolved value and where it is set.\n",
	  "exit codes: 0 the fleet is valid; 2 it is not, or a usage error\n" },
	{ "ca init", cmd_ca_init, "", 0, 0, OPT_QUIET,
	  "create the embedded CA (root and issuing); never overwrites",
	  "Creates the embedded CA's root and issuing certificates and keys at\n"
	  "the paths the fleet file names. An existing CA is never overwritten:\n"
	  "it is the one every server already trusts.\n",
	  "exit codes: 0 created; 1 it exists or cannot be written; 2 usage or\n"
	  "configuration error\n" },
	{ "plan", cmd_plan, "", 0, 0,
	  OPT_JSON | OPT_QUIET | OPT_LIMIT | OPT_EXCLUDE | OPT_SHARD |
	  OPT_FORCE | OPT_VERBOSE | OPT_ROLLOUT | OPT_METRICS | OPT_HTML,
	  "dry run: what run would do; writes nothing",
	  "Dry run: reads every server and says what run would do (up_to_date,\n"
	  "would_issue, or would_deny where the CA's policy refuses the\n"
	  "request), with a REASON for every server, and which servers would\n"
	  "fail the chain check. Takes no lock and writes nothing anywhere.\n",
	  exit_run },
	{ "run", cmd_run, "", 0, 0,
	  OPT_JSON | OPT_QUIET | OPT_LIMIT | OPT_EXCLUDE | OPT_SHARD |
	  OPT_FORCE | OPT_NO_ASSIGN | OPT_IMPORT_CA | OPT_VERBOSE |
	  OPT_ROLLOUT | OPT_METRICS | OPT_HTML,
	  "request what is due, check chains, assign, report",
	  "Requests a certificate for every server that is due, checks each\n"
	  "chain against the server's own stores, assigns the certificate to\n"
	  "the server's usages where the chain is valid, and reports.\n",
	  exit_run },
	{ "assign", cmd_assign, "", 0, 0,
	  OPT_JSON | OPT_QUIET | OPT_LIMIT | OPT_EXCLUDE | OPT_SHARD |
	  OPT_IMPORT_CA | OPT_VERBOSE | OPT_ROLLOUT | OPT_METRICS | OPT_HTML,
	  "assign certificates already issued (after CAs were imported)",
	  "Assigns certificates already issued whose chain is now valid (after\n"
	  "the missing CA certificates were imported). Requests nothing new.\n",
	  exit_run },
	{ "approve", cmd_approve, " SERVER...", 0, -1,
	  OPT_JSON | OPT_QUIET | OPT_ALL | OPT_LIMIT | OPT_EXCLUDE,
	  "approve requests the embedded CA holds as pending",
	  "Approves the requests the embedded CA holds as pending (approval =\n"
	  "\"manual\") for the servers named, or every pending one with --all.\n"
	  "The next run collects the certificates. Safe while a run is going:\n"
	  "an approval is never lost.\n",
	  "exit codes: 0 approved; 1 a named server has no pending request;\n"
	  "2 usage or configuration error\n" },
	{ "status", cmd_status, "", 0, 0,
	  OPT_JSON | OPT_QUIET | OPT_LIMIT | OPT_EXCLUDE | OPT_SHARD |
	  OPT_METRICS,
	  "each server's last status, thumbprint, expiry, usages",
	  "Shows what the last run found on each server, from the journal:\n"
	  "status (with its error), thumbprint, not after and days left, chain\n"
	  "verdict, usages; a request a stopped run left is shown as it stands.\n"
	  "Without --shard, reads every shard's journal too: each server as the\n"
	  "journal that wrote to it last has it. Reads only; contacts no server.\n",
	  "exit codes: 0 every server done; 1 some server failed, was denied,\n"
	  "or lacks a CA; 2 usage or configuration error\n" },
	{ "report", cmd_report, "", 0, 0, OPT_HTML | OPT_LIMIT | OPT_EXCLUDE |
	  OPT_SHARD,
	  "status as one HTML page (--html FILE): expiry picture",
	  "Writes what status shows, from the journal, as one self-contained\n"
	  "HTML page to the --html FILE (required): the summary, a picture of\n"
	  "every certificate's days left by group, the servers that need a\n"
	  "person, then every server. Contacts no server; prints nothing.\n",
	  "exit codes: 0 every server done; 1 some server failed, was denied,\n"
	  "or lacks a CA, or FILE could not be written; 2 usage or\n"
	  "configuration error (also: no --html)\n" },
	{ "show", cmd_show, " SERVER", 1, 1, OPT_JSON,
	  "what a server holds for each usage, and its latest request",
	  "Reads each usage's certificate from the server itself and shows\n"
	  "what is installed, for which usages: subject, issuer, serial,\n"
	  "validity, SANs, EKUs, key, thumbprints, chain; then its status and\n"
	  "the latest request when that is not what the server holds.\n",
	  "exit codes: 0 shown; 1 no certificate at all, or a usage that\n"
	  "cannot be read; 2 usage or configuration error\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
#define NOPTS (sizeof(opt_docs) / sizeof(opt_docs[0]))

static void print_usage(FILE *fp)
{
	size_t i;

	fputs("usage: certfleet COMMAND [options] FLEET.cfg\n"
	    "       certfleet COMMAND --help\n"
	    "       certfleet --version\n\ncommands:\n", fp);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\noptions (each command takes those its --help lists):\n", fp);
	for (i = 0; i < NOPTS; i++)
		fprintf(fp, "  %-19s %s\n", opt_docs[i].name, opt_docs[i].help);
	fprintf(fp, "  %-19s %s\n  %-19s %s\n\n%s", "-h, --help", "this text, "
	    "or a command's own", "--version", "print the version", exit_run);
}

static void print_command_help(const struct command *c)
{
	size_t i;

	printf("usage: certfleet %s [options] FLEET.cfg%s\n\n%s\noptions:\n",
	    c->name, c->operands, c->help);
	for (i = 0; i < NOPTS; i++)
		if (c->opts & opt_docs[i].flag)
			printf("  %-19s %s\n", opt_docs[i].name,
			    opt_docs[i].help);
	printf("  %-19s %s\n\n%s", "-h, --help", "this text", c->exits);
}

/* The option's name as the user should type it, for messages. */
static const char *opt_name(unsigned flag)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opt_docs[i].flag == flag)
			return opt_docs[i].name;
	return "?";
}

/* Matches argv against a command name of one or two words ("ca init").
 * Returns how many words matched, or 0. */
static int command_words(const char *name, int argc, char **argv)
{
	const char *sp = strchr(name, ' ');

	if (sp == NULL)
		return strcmp(name, argv[1]) == 0 ? 1 : 0;
	if (argc < 3 || strncmp(name, argv[1], (size_t)(sp - name)) != 0 ||
	    argv[1][sp - name] != '\0' || strcmp(sp + 1, argv[2]) != 0)
		return 0;
	return 2;
}

/* Parses the options after the command word into o; returns -1 to go on,
 * else the exit code (help printed, or a usage error reported). */
static int parse_options(const struct command *cmd, int argc, char **argv,
    struct cmd_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "exclude", required_argument, NULL, LONG_EXCLUDE },
		{ "no-assign", no_argument, NULL, LONG_NO_ASSIGN },
		{ "all", no_argument, NULL, LONG_ALL },
		{ "import-ca", no_argument, NULL, LONG_IMPORT_CA },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, LONG_VERSION },
		{ "batch", required_argument, NULL, LONG_BATCH },
		{ "max-failures", required_argument, NULL, LONG_MAX_FAILURES },
		{ "canary", required_argument, NULL, LONG_CANARY },
		{ "no-verify", no_argument, NULL, LONG_NO_VERIFY },
		{ "metrics", required_argument, NULL, LONG_METRICS },
		{ "shard", required_argument, NULL, LONG_SHARD },
		{ "html", required_argument, NULL, LONG_HTML },
		{ "explain", required_argument, NULL, LONG_EXPLAIN },
		{ NULL, 0, NULL, 0 }
	};
	const char *shard = NULL;
	unsigned seen = 0, bad;
	char msg[256];
	size_t i;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hjqfvl:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'j': seen |= OPT_JSON; o->json = true; break;
		case 'q': seen |= OPT_QUIET; o->quiet = true; break;
		case 'f': seen |= OPT_FORCE; o->force = true; break;
		case 'v': seen |= OPT_VERBOSE; o->verbose = true; break;
		case 'l':
			seen |= OPT_LIMIT;
			o->limit[o->nlimit++] = optarg;
			break;
		case LONG_EXCLUDE:
			seen |= OPT_EXCLUDE;
			o->exclude[o->nexclude++] = optarg;
			break;
		case LONG_NO_ASSIGN: seen |= OPT_NO_ASSIGN; o->no_assign = true;
			break;
		case LONG_ALL: seen |= OPT_ALL; o->all = true; break;
		case LONG_IMPORT_CA: seen |= OPT_IMPORT_CA; o->import_ca = true;
			break;
		case LONG_BATCH: seen |= OPT_BATCH; o->batch = optarg; break;
		case LONG_MAX_FAILURES:
			seen |= OPT_MAX_FAILURES;
			o->max_failures = optarg;
			break;
		case LONG_CANARY: seen |= OPT_CANARY; o->canary = optarg; break;
		case LONG_NO_VERIFY: seen |= OPT_NO_VERIFY; o->no_verify = true;
			break;
		case LONG_METRICS: seen |= OPT_METRICS; o->metrics = optarg;
			break;
		case LONG_SHARD: seen |= OPT_SHARD; shard = optarg; break;
		case LONG_HTML: seen |= OPT_HTML; o->html = optarg; break;
		case LONG_EXPLAIN: seen |= OPT_EXPLAIN; o->explain = optarg;
			break;
		case 'h':
			print_command_help(cmd);
			return CMD_EXIT_OK;
		case LONG_VERSION:
			printf("certfleet %s\n", CERTFLEET_VERSION);
			return CMD_EXIT_OK;
		case ':':
			fprintf(stderr, "certfleet: option '%s' of '%s' needs a "
			    "value\n", argv[optind - 1], cmd->name);
			return CMD_EXIT_USAGE;
		default:
			if (optopt != 0)
				fprintf(stderr, "certfleet: unknown option '-%c' "
				    "for '%s'", optopt, cmd->name);
			else
				fprintf(stderr, "certfleet: unknown option '%s' "
				    "for '%s'", argv[optind - 1], cmd->name);
			fprintf(stderr, " (see certfleet %s --help)\n",
			    cmd->name);
			return CMD_EXIT_USAGE;
		}
	}
	if ((bad = seen & ~cmd->opts) != 0) {
		for (i = 0; !(bad & (1u << i)); i++)
			;
		fprintf(stderr, "certfleet: '%s' does not take %.*s (see "
		    "certfleet %s --help)\n", cmd->name,
		    (int)strcspn(opt_name(1u << i), " "), opt_name(1u << i),
		    cmd->name);
		return CMD_EXIT_USAGE;
	}
	if (shard != NULL && shard_parse(shard, &o->shard, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		return CMD_EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "certfleet: '%s' needs a fleet file (usage: "
		    "certfleet %s [options] FLEET.cfg%s)\n", cmd->name,
		    cmd->name, cmd->operands);
		return CMD_EXIT_USAGE;
	}
	o->fleet = argv[optind];
	o->args = argv + optind + 1;
	o->nargs = argc - optind - 1;
	if (o->nargs < cmd->min_args ||
	    (cmd->max_args >= 0 && o->nargs > cmd->max_args)) {
		if (o->nargs < cmd->min_args)
			fprintf(stderr, "certfleet: '%s' needs%s after the fleet "
			    "file", cmd->name, cmd->operands);
		else
			fprintf(stderr, "certfleet: unexpected argument '%s' "
			    "for '%s'", o->args[cmd->max_args], cmd->name);
		fprintf(stderr, " (usage: certfleet %s [options] FLEET.cfg%s)\n",
		    cmd->name, cmd->operands);
		return CMD_EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	size_t i;
	int words = 0, rc;

	/* A peer that goes away (ssh that exited early) is an error on its
	 * pipe, reported for that server, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		print_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CMD_EXIT_USAGE : CMD_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("certfleet %s\n", CERTFLEET_VERSION);
		return CMD_EXIT_OK;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if ((words = command_words(commands[i].name, argc, argv)) > 0)
			break;
	if (i == NCOMMANDS) {
		fprintf(stderr, "certfleet: unknown command '%s'\n\n", argv[1]);
		print_usage(stderr);
		return CMD_EXIT_USAGE;
	}
	/* Every --limit or --exclude value fits: at most one per argument. */
	o.limit = calloc((size_t)argc, sizeof(*o.limit));
	o.exclude = calloc((size_t)argc, sizeof(*o.exclude));
	if (o.limit == NULL || o.exclude == NULL) {
		fprintf(stderr, "certfleet: out of memory\n");
		rc = CMD_EXIT_FAILED;
	} else if ((rc = parse_options(&commands[i], argc - words,
	    argv + words, &o)) < 0) {
		rc = commands[i].run(&o);
	}
	free(o.limit);
	free(o.exclude);
	return rc;
}
