/*
 * Opening a server's transport from its fleet entry: the local transport
 * for a directory here, the OpenSSH client otherwise.
 */
#include "cmd/cmd_transport.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/transport/transport_local.h"
#include "engine/transport/transport_ssh.h"
#include "inventory/fleet.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_transports_init(struct cmd_transports *ct, const struct fleet *f,
    bool read_only, char *msg, size_t msgsz)
{
	char tmpl[] = "/tmp/certfleet-ssh-XXXXXX";
	size_t i;

	memset(ct, 0, sizeof *ct);
	for (i = 0; i < f->nservers && f->servers[i].transport !=
	    TRANSPORT_SSH; i++)
		;
	if (i == f->nservers)
		return 0;
	/* A socket path is at most about 100 bytes, and ssh reads '%' and
	 * spaces in ControlPath. */
	ct->control_dir = path_join(f->state_dir, "ssh");
	if (!read_only && ct->control_dir != NULL &&
	    strlen(ct->control_dir) < 60 &&
	    strpbrk(ct->control_dir, "% \t") == NULL)
		return fsio_mkdirs(ct->control_dir, 0700, msg, msgsz);
	free(ct->control_dir);
	ct->control_dir = NULL;
	if (mkdtemp(tmpl) == NULL)
		return cf_error(msg, msgsz, CF_EIO, "cannot create '%s'", tmpl);
	ct->control_tmp = true;
	if ((ct->control_dir = strdup(tmpl)) == NULL) {
		rmdir(tmpl);
		ct->control_tmp = false;
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	return 0;
}

void cmd_transports_release(struct cmd_transports *ct)
{
	if (ct->control_tmp && ct->control_dir)
		rmdir(ct->control_dir);
	free(ct->control_dir);
	memset(ct, 0, sizeof *ct);
}

int cmd_transport_open(const struct cmd_transports *ct,
    const struct server *s, uv_loop_t *loop, struct transport **out,
    char *msg, size_t msgsz)
{
	struct ssh_target tg;

	if (s->transport == TRANSPORT_LOCAL)
		return transport_local_open(out, loop, s->name, s->root, msg,
		    msgsz);
	memset(&tg, 0, sizeof tg);
	tg.address = s->address;
	tg.user = s->ssh.user;
	tg.port = s->ssh.port;
	tg.identity_file = s->ssh.identity_file;
	tg.ssh_config = s->ssh.ssh_config;
	tg.known_hosts = s->ssh.known_hosts;
	tg.accept_new = s->ssh.accept_new;
	tg.connect_timeout = s->ssh.connect_timeout;
	tg.control_dir = ct->control_dir;
	tg.root = s->root;
	return transport_ssh_open(out, loop, s->name, &tg, msg, msgsz);
}
