/*
 * The up-to-date decision, kept pure so that every rule has a unit test:
 * renewal window, certificates that differ between usages, SANs that no
 * longer match the template.
 */
#include "engine/job/inspect.h"
#include "engine/base/crypto.h"
#include "engine/base/san.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static bool sans_match(X509 *cert, const struct req_spec *spec,
    char *why, size_t whysz)
{
	char **have = NULL;
	size_t n = 0, i, j;
	bool ok = true;

	if (crypto_cert_sans(cert, &have, &n) != 0) {
		snprintf(why, whysz, "cannot read the certificate's SANs");
		return false;
	}
	for (i = 0; ok && i < spec->nsan; i++) {
		for (j = 0; j < n && !san_equal(spec->san[i], have[j]); j++)
			;
		if (j == n) {
			snprintf(why, whysz, "the certificate lacks SAN '%s' "
			    "of the template", spec->san[i]);
			ok = false;
		}
	}
	for (j = 0; ok && j < n; j++) {
		for (i = 0; i < spec->nsan && !san_equal(spec->san[i], have[j]);
		    i++)
			;
		if (i == spec->nsan) {
			snprintf(why, whysz, "the certificate has SAN '%s', "
			    "which the template no longer asks for", have[j]);
			ok = false;
		}
	}
	crypto_strings_free(have, n);
	return ok;
}

int inspect_decide(const char *const current[USAGE_MAX], unsigned usages,
    const struct req_spec *spec, int renew_before_days, time_t now,
    bool force, struct inspect_result *out)
{
	const char *first = NULL;
	STACK_OF(X509) *certs = NULL;
	char msg[256], day[16];
	long long left;
	struct tm tm;
	X509 *leaf;
	int u;

	memset(out, 0, sizeof(*out));
	out->due = true;
	for (u = 0; u < USAGE_MAX; u++) {
		if (!(usages & (1u << u)))
			continue;
		if (current[u] == NULL) {
			snprintf(out->reason, sizeof out->reason, "no "
			    "certificate assigned for usage '%s'",
			    usage_name((enum usage)u));
			return 0;
		}
		if (first == NULL) {
			first = current[u];
		} else if (strcmp(first, current[u]) != 0) {
			snprintf(out->reason, sizeof out->reason, "usage '%s' "
			    "holds another certificate than the others",
			    usage_name((enum usage)u));
			return 0;
		}
	}
	if (first == NULL) {
		snprintf(out->reason, sizeof out->reason, "no usage to serve");
		return 0;
	}
	if (crypto_certs_from_pem(first, "the assigned certificate", &certs,
	    msg, sizeof msg) != 0) {
		snprintf(out->reason, sizeof out->reason, "%s", msg);
		return 0;
	}
	leaf = sk_X509_value(certs, 0);
	crypto_thumbprint(leaf, out->thumbprint);
	crypto_fingerprint_sha256(leaf, out->sha256);
	crypto_cert_not_after(leaf, &out->not_after);
	gmtime_r(&out->not_after, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	left = out->not_after > now ? (long long)(out->not_after - now) / DAY :
	    -1;
	if (force)
		snprintf(out->reason, sizeof out->reason, "--force");
	else if (out->not_after <= now)
		snprintf(out->reason, sizeof out->reason, "expired on %s", day);
	else if (out->not_after <= now + (time_t)renew_before_days * DAY)
		snprintf(out->reason, sizeof out->reason, "expires in %lld "
		    "day%s (on %s), within renew_before_days (%d)", left,
		    left == 1 ? "" : "s", day, renew_before_days);
	else if (sans_match(leaf, spec, out->reason, sizeof out->reason)) {
		out->due = false;
		snprintf(out->reason, sizeof out->reason, "valid until %s, "
		    "%lld day%s left", day, left, left == 1 ? "" : "s");
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}
