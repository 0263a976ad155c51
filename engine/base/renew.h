/*
 * Renewal policy of one server: when before notAfter a certificate is due
 * (days, or a fraction of its lifetime left, as certbot does), a per-server
 * jitter that moves the renewal earlier, and whether the key is reused.
 * Parsing of the values is here (pure); their FILE:LINE is inventory's.
 */
#ifndef CF_RENEW_H
#define CF_RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RENEW_DAY 86400L

struct renew_policy {
	int days;                   /* renew this many days before notAfter,
	                               or -1: by fraction */
	int num, den;               /* renew when less than num/den of the
	                               lifetime is left (days == -1) */
	char text[24];              /* as written: "30d", "1/3", "33%" */
	bool legacy;                /* from renew_before_days or its default:
	                               messages name that key */
	long jitter_s;              /* renew_jitter; 0: none */
	long offset_s;              /* this server's jitter, [0, jitter_s) */
	bool reuse_key;             /* renewals keep the server's key */
};

/* The default: 30 days (renew_before_days), no jitter, a new key. */
void renew_policy_init(struct renew_policy *p);

/* Sets p's window from "30d", "1/3" or "33%". 0, or CF_EINVAL with msg. */
int renew_parse_before(struct renew_policy *p, const char *s, char *msg,
    size_t msgsz);

/* Reads a jitter "5d" or "12h" (more than 0, at most 365 days) into
 * *secs. 0, or CF_EINVAL with msg. */
int renew_parse_jitter(const char *s, long *secs, char *msg, size_t msgsz);

/* The deterministic jitter of server in fleet: a hash of both names, in
 * [0, jitter_s) (0 when jitter_s is 0). Stable across runs and hosts. */
long renew_jitter_offset(const char *fleet, const char *server,
    long jitter_s);

/* When a certificate valid from not_before to not_after becomes due under
 * p, jitter included. */
time_t renew_due_at(const struct renew_policy *p, time_t not_before,
    time_t not_after);

/* renew_before as the fleet file would say it ("30d", "1/3"), and the
 * jitter ("5d", "12h", or NULL without one), for check --json. */
const char *renew_before_text(const struct renew_policy *p, char *buf,
    size_t bufsz);
const char *renew_jitter_text(const struct renew_policy *p, char *buf,
    size_t bufsz);

/* The window as a message names it: "renew_before_days (30)",
 * "renew_before (30d)" or "renew_before (1/3 of the lifetime)". */
const char *renew_describe(const struct renew_policy *p, char *buf,
    size_t bufsz);

#endif
