/*
 * The up-to-date decision, kept pure so that every rule has a unit test:
 * renewal window, certificates that differ between usages, SANs that no
 * longer match the template.
 */
#include "engine/job/inspect.h"
#include "engine/base/crypto.h"
#include "engine/base/renew.h"
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

/* YYYY-MM-DD of t, UTC. */
static void inspect_day(time_t t, char day[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(day, 16, "%Y-%m-%d", &tm);
}

/* " and renews 3.2 days early (jitter)", or "" without jitter. */
static const char *jitter_note(const struct renew_policy *rp, char *buf,
    size_t bufsz)
{
	if (rp->offset_s <= 0)
		return "";
	snprintf(buf, bufsz, " and renews %.1f days early (jitter)",
	    (double)rp->offset_s / DAY);
	return buf;
}

/* When an up-to-date server renews: said once the policy is more than
 * renew_before_days, so that plan shows a fraction's or jitter's date. */
static const char *due_note(const struct renew_policy *rp, time_t due,
    char *buf, size_t bufsz)
{
	char day[16];

	if (rp->legacy && rp->offset_s <= 0)
		return "";
	inspect_day(due, day);
	if (rp->offset_s > 0)
		snprintf(buf, bufsz, "; renews on %s, %.1f days early (jitter)",
		    day, (double)rp->offset_s / DAY);
	else
		snprintf(buf, bufsz, "; renews on %s", day);
	return buf;
}

int inspect_decide(const struct usage_table *utab,
    const char *const current[USAGE_CAP], unsigned usages,
    const struct req_spec *spec, const struct renew_policy *rp, time_t now,
    bool force, struct inspect_result *out)
{
	const char *first = NULL;
	STACK_OF(X509) *certs = NULL;
	char msg[256], day[16], policy[64], note[80];
	long long left;
	time_t not_before = 0, due;
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
	crypto_cert_not_before(leaf, &not_before);
	due = renew_due_at(rp, not_before, out->not_after);
	inspect_day(out->not_after, day);
	left = out->not_after > now ? (long long)(out->not_after - now) / DAY :
	    -1;
	renew_describe(rp, policy, sizeof policy);
	if (force)
		snprintf(out->reason, sizeof out->reason, "--force");
	else if (out->not_after <= now)
		snprintf(out->reason, sizeof out->reason, "expired on %s", day);
	else if (due <= now)
		snprintf(out->reason, sizeof out->reason, "expires in %lld "
		    "day%s (on %s), within %s%s", left, left == 1 ? "" : "s",
		    day, policy, jitter_note(rp, note, sizeof note));
	else if (sans_match(leaf, spec, out->reason, sizeof out->reason)) {
		out->due = false;
		snprintf(out->reason, sizeof out->reason, "valid until %s, "
		    "%lld day%s left%s", day, left, left == 1 ? "" : "s",
		    due_note(rp, due, note, sizeof note));
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}
