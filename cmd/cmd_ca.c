/*
 * `certfleet ca init FLEET.cfg`: creates the embedded CA's root and issuing
 * certificates and keys at the paths the fleet file names. It never
 * overwrites: an existing CA is the one every server already trusts.
 */
#include "cmd/cmd.h"
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "inventory/fleet.h"

#include <stdio.h>

int cmd_ca_init(const struct cmd_opts *o)
{
	struct fleet f;
	struct ca_local ca;
	char msg[512], sha1[41], sha256[65], subject[256];
	int rc;

	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	if (ca_local_create(f.name, f.ca.root_cert, f.ca.root_key,
	    f.ca.issuing_cert, f.ca.issuing_key, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	if (ca_local_load(&ca, f.ca.root_cert, f.ca.issuing_cert,
	    f.ca.issuing_key, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	if (!o->quiet) {
		crypto_cert_subject(ca.root, subject, sizeof subject);
		crypto_thumbprint(ca.root, sha1);
		crypto_fingerprint_sha256(ca.root, sha256);
		printf("root CA     %s\n  %s\n  thumbprint %s\n  sha256 %s\n",
		    subject, f.ca.root_cert, sha1, sha256);
		crypto_cert_subject(ca.issuing, subject, sizeof subject);
		crypto_thumbprint(ca.issuing, sha1);
		printf("issuing CA  %s\n  %s\n  thumbprint %s\n", subject,
		    f.ca.issuing_cert, sha1);
		printf("servers must hold the root in their root store and the "
		    "issuing CA in their intermediate store\n");
	}
	ca_local_release(&ca);
out:
	fleet_release(&f);
	return rc;
}
