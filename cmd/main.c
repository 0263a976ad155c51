/*
 * certfleet's entry point: the command word, common options, dispatch and
 * the process exit code. Nothing below cmd/ exits or prints.
 */
#include "cmd/cmd.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
"usage: certfleet COMMAND [options] FLEET.cfg\n"
"\n"
"commands:\n"
"  check FLEET.cfg     validate the fleet file, inventory and template\n"
"  ca init FLEET.cfg   create the embedded CA (root and issuing) at the\n"
"                      paths in the fleet file; never overwrites\n"
"  plan FLEET.cfg      dry run: what run would do, which servers lack a CA;\n"
"                      writes nothing\n"
"  run FLEET.cfg       request what is due, check chains, assign, report\n"
"  assign FLEET.cfg    assign certificates already issued (after CA\n"
"                      certificates were imported)\n"
"  approve FLEET.cfg SERVER...|--all\n"
"                      approve requests the embedded CA holds as pending\n"
"  status FLEET.cfg    each server's last status, thumbprint, expiry\n"
"  show FLEET.cfg SERVER\n"
"                      the issued certificate's details\n"
"\n"
"options:\n"
"  --json              machine-readable output\n"
"  --quiet             print only problems (for cron)\n"
"  --limit NAME|GROUP  only these servers\n"
"  --force             re-issue even if not due\n"
"  --no-assign         stop at issued (do not install)\n"
"  --all               approve: every pending request\n"
"  --import-ca         run, assign: import a CA a server lacks into its\n"
"                      store, only when ca.trusted_roots pins its SHA-256\n"
"  -h, --help          this text\n"
"\n"
"exit codes: 0 done or nothing due; 1 some server failed; 2 usage or\n"
"configuration error; 3 another run holds the lock\n";

static const struct {
	const char *name;
	int (*run)(const struct cmd_opts *);
	int min_args;               /* operands after the fleet file */
} commands[] = {
	{ "check", cmd_check, 0 },
	{ "ca init", cmd_ca_init, 0 },
	{ "plan", cmd_plan, 0 },
	{ "run", cmd_run, 0 },
	{ "assign", cmd_assign, 0 },
	{ "approve", cmd_approve, 0 },
	{ "status", cmd_status, 0 },
	{ "show", cmd_show, 1 },
};

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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "no-assign", no_argument, NULL, 'N' },
		{ "all", no_argument, NULL, 'a' },
		{ "import-ca", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_opts o = { 0 };
	size_t i;
	int c, words = 0;

	/* A peer that goes away (ssh that exited early) is an error on its
	 * pipe, reported for that server, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? CMD_EXIT_USAGE : CMD_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if ((words = command_words(commands[i].name, argc, argv)) > 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "certfleet: unknown command '%s'\n%s", argv[1],
		    usage_text);
		return CMD_EXIT_USAGE;
	}
	argc -= words;
	argv += words;
	while ((c = getopt_long(argc, argv, "hjqfl:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'l':
			o.limit = optarg;
			break;
		case 'N':
			o.no_assign = true;
			break;
		case 'a':
			o.all = true;
			break;
		case 'I':
			o.import_ca = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CMD_EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return CMD_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind - 1 < commands[i].min_args) {
		fprintf(stderr, "certfleet: '%s' needs a fleet file\n%s",
		    commands[i].name, usage_text);
		return CMD_EXIT_USAGE;
	}
	o.fleet = argv[optind];
	o.args = argv + optind + 1;
	o.nargs = argc - optind - 1;
	return commands[i].run(&o);
}
