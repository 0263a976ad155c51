/*
 * From a fleet's settings to the engine's drivers: one table of CA
 * drivers and one of transports, each row a type and how to open it. A
 * type without a row is an error, never a fall-through to another.
 */
#include "cmd/drivers.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/ca/ca_acme.h"
#include "engine/ca/ca_command.h"
#include "engine/ca/ca_local_driver.h"
#include "engine/transport/transport_local.h"
#include "engine/transport/transport_ssh.h"
#include "inventory/fleet.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_local(const struct server *s, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	return transport_local_open(out, loop, s->name, s->root, msg, msgsz);
}

static int open_ssh(const struct server *s, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	struct ssh_target tg;

	memset(&tg, 0, sizeof tg);
	tg.address = s->address;
	tg.user = s->ssh.user;
	tg.port = s->ssh.port;
	tg.identity_file = s->ssh.identity_file;
	tg.ssh_config = s->ssh.ssh_config;
	tg.known_hosts = s->ssh.known_hosts;
	tg.accept_new = s->ssh.accept_new;
	tg.connect_timeout = s->ssh.connect_timeout;
	tg.root = s->root;
	return transport_ssh_open(out, loop, s->name, &tg, msg, msgsz);
}

static const struct {
	enum transport_type type;
	int (*open)(const struct server *s, uv_loop_t *loop,
	    struct transport **out, char *msg, size_t msgsz);
} transports[] = {
	{ TRANSPORT_LOCAL, open_local },
	{ TRANSPORT_SSH, open_ssh },
};

int cmd_transport_open(const struct server *s, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	size_t i;

	for (i = 0; i < sizeof transports / sizeof transports[0]; i++)
		if (transports[i].type == s->transport)
			return transports[i].open(s, loop, out, msg, msgsz);
	return cf_error(msg, msgsz, CF_EINTERNAL, "no transport %d for '%s'",
	    (int)s->transport, s->name);
}

/* ---- CA drivers ---- */

static int open_acme(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz)
{
	struct ca_acme_config ac;
	char *dir;
	int rc;

	memset(&ac, 0, sizeof ac);
	ac.directory = f->ca.acme.directory;
	ac.tls_ca_file = f->ca.acme.tls_ca_file;
	ac.account_key = f->ca.acme.account_key;
	ac.contact = f->ca.acme.contact;
	ac.ncontact = f->ca.acme.ncontact;
	ac.eab_kid = f->ca.acme.eab_kid;
	ac.eab_hmac_key = f->ca.acme.eab_hmac_key;
	ac.preferred_chain = f->ca.acme.preferred_chain;
	ac.max_in_flight = f->concurrency > 4 ? f->concurrency : 4;
	/* The account key's directory, 0700 like the rest of the state. */
	if ((dir = path_dirname(ac.account_key)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	rc = fsio_mkdirs(dir, 0700, msg, msgsz);
	free(dir);
	return rc ? rc : ca_acme_new(loop, &ac, ca, msg, msgsz);
}

static int open_local_ca(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz)
{
	struct ca_policy pol;

	memset(&pol, 0, sizeof pol);
	pol.allowed_domains = f->ca.allowed_domains;
	pol.ndomains = f->ca.ndomains;
	pol.allowed_ips = f->ca.allowed_ips;
	pol.nips = f->ca.nips;
	pol.manual_approval = f->ca.manual_approval;
	if (access(f->ca.issuing_cert, F_OK) != 0)
		return cf_error(msg, msgsz, CF_ENOENT, "no CA at '%s': create "
		    "one with 'certfleet ca init %s'", f->ca.issuing_cert,
		    f->path);
	return ca_local_driver_new(loop, f->ca.root_cert, f->ca.issuing_cert,
	    f->ca.issuing_key, &pol, ca, msg, msgsz);
}

static int open_command(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz)
{
	struct ca_command_config cc;

	memset(&cc, 0, sizeof cc);
	cc.helper = f->ca.command.helper;
	cc.profile = f->ca.command.profile;
	cc.nickname = f->ca.command.nickname;
	cc.timeout = f->ca.command.timeout;
	return ca_command_new(loop, &cc, ca, msg, msgsz);
}

static const struct {
	enum ca_type type;
	int (*open)(const struct fleet *f, uv_loop_t *loop,
	    struct ca_driver **ca, char *msg, size_t msgsz);
} cas[] = {
	{ CA_LOCAL, open_local_ca },
	{ CA_ACME, open_acme },
	{ CA_COMMAND, open_command },
};

int cmd_ca_open(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz)
{
	size_t i;

	for (i = 0; i < sizeof cas / sizeof cas[0]; i++)
		if (cas[i].type == f->ca.type)
			return cas[i].open(f, loop, ca, msg, msgsz);
	return cf_error(msg, msgsz, CF_EINTERNAL, "no CA driver %d",
	    (int)f->ca.type);
}
