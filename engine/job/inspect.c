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

/* The first of a[na] that b[nb] lacks (san_equal), or NULL. */
static const char *first_lacking(char *const *a, size_t na, char *const *b,
    size_t nb)
{
	size_t i, k;

	for (i = 0; i < na; i++) {
		for (k = 0; k < nb && !san_equal(a[i], b[k]); k++)
			;
		if (k == nb)
			return a[i];
	}
	return NULL;
}

static bool sans_match(X509 *cert, const struct req_spec *spec,
    char *why, size_t whysz)
{
	char **have = NULL;
	const char *odd;
	size_t n = 0;

	if (crypto_cert_sans(cert, &have, &n) != 0) {
		snprintf(why, whysz, "cannot read the certificate's SANs");
		return false;
	}
	if ((odd = first_lacking(spec->san, spec->nsan, have, n)) != NULL)
		snprintf(why, whysz, "the certificate lacks SAN '%s' of the "
		    "template", odd);
	else if ((odd = first_lacking(have, n, spec->san, spec->nsan)) != NULL)
		snprintf(why, whysz, "the certificate has SAN '%s', which the "
		    "template no longer asks for", odd);
	crypto_strings_free(have, n);
	return odd == NULL;
}

int inspect_decide(const struct usage_table *utab,
    const char *const current[USAGE_CAP], unsigned usages,
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
	for (u = 0; u < USAGE_CAP; u++) {
		if (!(usages & (1u << u)))
			continue;
		if (current[u] == NULL) {
			snprintf(out->reason, sizeof out->reason, "no "
			    "certificate assigned for usage '%s'",
			    usage_name(utab, (unsigned)u));
			return 0;
		}
		if (first == NULL) {
			first = current[u];
		} else if (strcmp(first, current[u]) != 0) {
			snprintf(out->reason, sizeof out->reason, "usage '%s' "
			    "holds another certificate than the others",
			    usage_name(utab, (unsigned)u));
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
