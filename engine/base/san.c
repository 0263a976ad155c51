/*
 * Host name, IP and SAN syntax (RFC 1123, RFC 5280 section 4.2.1.6). Kept
 * strict on purpose: these strings end up in certificates, file names and
 * remote commands, so anything odd is refused here rather than escaped later.
 */
#include "engine/base/san.h"
#include "engine/base/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool label_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

bool host_is_valid(const char *s, bool wildcard)
{
	const char *p = s, *dot;
	size_t len = strlen(s);

	if (wildcard && strncmp(s, "*.", 2) == 0) {
		p += 2;
		len -= 2;
	}
	if (len == 0 || len > 253)
		return false;
	for (;;) {
		dot = strchr(p, '.');
		if (!label_ok(p, dot ? (size_t)(dot - p) : strlen(p)))
			return false;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	/* An all-numeric last label would make "10.0.0.300" a host name
	 * (RFC 3696 section 2). */
	return strspn(p, "0123456789") != strlen(p);
}

bool ip_parse(const char *s, unsigned char ip[16], size_t *iplen)
{
	unsigned char buf[16];
	unsigned char *out = ip ? ip : buf;

	if (inet_pton(AF_INET, s, out) == 1) {
		if (iplen)
			*iplen = 4;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		if (iplen)
			*iplen = 16;
		return true;
	}
	return false;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int san_parse(const char *s, struct san *out, char *msg, size_t msgsz)
{
	const char *v = strchr(s, ':');
	size_t plen;

	memset(out, 0, sizeof(*out));
	if (v == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "malformed SAN '%s': expected DNS:, IP:, email: or URI:", s);
	plen = (size_t)(v - s);
	v++;
	out->value = v;
	if (plen == 3 && strncasecmp(s, "DNS", 3) == 0) {
		out->type = SAN_DNS;
		if (!host_is_valid(v, true))
			return cf_error(msg, msgsz, CF_EINVAL,
			    "malformed SAN '%s': '%s' is not a valid DNS name",
			    s, v);
	} else if (plen == 2 && strncasecmp(s, "IP", 2) == 0) {
		out->type = SAN_IP;
		if (!ip_parse(v, out->ip, &out->iplen))
			return cf_error(msg, msgsz, CF_EINVAL,
			    "malformed SAN '%s': '%s' is not an IP address",
			    s, v);
	} else if (plen == 5 && strncasecmp(s, "email", 5) == 0) {
		const char *at = strchr(v, '@');
		out->type = SAN_EMAIL;
		if (at == NULL || at == v || !printable(v) ||
		    !host_is_valid(at + 1, false))
			return cf_error(msg, msgsz, CF_EINVAL,
			    "malformed SAN '%s': '%s' is not an email address",
			    s, v);
	} else if (plen == 3 && strncasecmp(s, "URI", 3) == 0) {
		const char *colon = strchr(v, ':');
		out->type = SAN_URI;
		if (colon == NULL || colon == v || !printable(v))
			return cf_error(msg, msgsz, CF_EINVAL,
			    "malformed SAN '%s': '%s' is not a URI", s, v);
	} else {
		return cf_error(msg, msgsz, CF_EINVAL,
		    "malformed SAN '%s': unknown type '%.*s' (use DNS, IP, "
		    "email or URI)", s, (int)plen, s);
	}
	return 0;
}

bool host_in_domain(const char *host, const char *domain)
{
	size_t hl = strlen(host), dl = strlen(domain);

	if (hl == dl)
		return strcasecmp(host, domain) == 0;
	if (hl < dl + 1 || host[hl - dl - 1] != '.')
		return false;
	return strcasecmp(host + hl - dl, domain) == 0;
}

bool cidr_parse(const char *s, struct cidr *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!ip_parse(buf, out->ip, &out->iplen))
		return false;
	if (slash == NULL) {
		out->prefix = (unsigned)out->iplen * 8;
		return true;
	}
	if (!isdigit((unsigned char)slash[1]))
		return false;
	prefix = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || prefix > out->iplen * 8)
		return false;
	out->prefix = (unsigned)prefix;
	return true;
}

bool cidr_contains(const struct cidr *c, const unsigned char *ip,
    size_t iplen)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	unsigned char mask;

	if (iplen != c->iplen || memcmp(ip, c->ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (ip[full] & mask) == (c->ip[full] & mask);
}

bool san_equal(const char *a, const char *b)
{
	struct san sa, sb;

	if (san_parse(a, &sa, NULL, 0) != 0 || san_parse(b, &sb, NULL, 0) != 0)
		return strcmp(a, b) == 0;
	if (sa.type != sb.type)
		return false;
	switch (sa.type) {
	case SAN_IP:
		return sa.iplen == sb.iplen &&
		    memcmp(sa.ip, sb.ip, sa.iplen) == 0;
	case SAN_URI:
		return strcmp(sa.value, sb.value) == 0;
	default:
		return strcasecmp(sa.value, sb.value) == 0;
	}
}
