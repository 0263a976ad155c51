/*
 * Subject alternative names and host names: the syntax rules shared by the
 * fleet file check and the CA, so both accept exactly the same strings.
 * Pure functions; nothing here allocates.
 */
#ifndef CF_SAN_H
#define CF_SAN_H

#include <stdbool.h>
#include <stddef.h>

enum san_type {
	SAN_DNS,
	SAN_IP,
	SAN_EMAIL,
	SAN_URI
};

/* A parsed SAN points into the string it was parsed from. */
struct san {
	enum san_type type;
	const char *value;          /* after the "DNS:" style prefix */
	unsigned char ip[16];       /* SAN_IP: address bytes */
	size_t iplen;               /* 4 or 16 */
};

/* True when s is an RFC 1123 host name; a leading "*." only if wildcard. */
bool host_is_valid(const char *s, bool wildcard);

/* True when s is an IPv4 or IPv6 address; fills ip and iplen when not NULL. */
bool ip_parse(const char *s, unsigned char ip[16], size_t *iplen);

/*
 * Parses "DNS:name", "IP:addr", "email:addr" or "URI:uri" into out.
 * Returns 0, or CF_EINVAL with the reason in msg.
 */
int san_parse(const char *s, struct san *out, char *msg, size_t msgsz);

/* An address block such as 10.0.0.0/8 or fd00::/8. */
struct cidr {
	unsigned char ip[16];
	size_t iplen;               /* 4 or 16 */
	unsigned prefix;
};

/* Parses "addr/prefix" (or a bare address, a /32 or /128). */
bool cidr_parse(const char *s, struct cidr *out);

/* True when the address ip (iplen bytes) lies inside c. */
bool cidr_contains(const struct cidr *c, const unsigned char *ip,
    size_t iplen);

/* True when two SAN strings name the same thing: DNS names and emails
 * compared without case, IP addresses by value ("::1" equals "0::1"). */
bool san_equal(const char *a, const char *b);

/* True when host equals domain or lies under it (case-insensitive). */
bool host_in_domain(const char *host, const char *domain);

#endif
