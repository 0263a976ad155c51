/*
 * The HTML report's picture of a fleet's expiry: every certificate the
 * servers hold on one axis of days left, coloured by urgency, one lane per
 * group. Up to EXPIRY_MARKS_MAX certificates each get a row and a mark
 * (their name beside it and as its <title>); more are counted into a
 * histogram of days-left bars, stacked by urgency. Pure: it writes inline
 * SVG (and its legend) to a stream and reads nothing.
 */
#ifndef CF_EXPIRY_H
#define CF_EXPIRY_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* How soon a certificate expires: the picture's colours. */
enum expiry_urgency {
	EXPIRY_EXPIRED,             /* fewer than 0 days left */
	EXPIRY_WEEK,                /* 0 to 6 days left */
	EXPIRY_MONTH,               /* 7 to 29 days left */
	EXPIRY_LATER,               /* 30 days or more */
	EXPIRY_URGENCY_MAX
};

#define EXPIRY_WEEK_DAYS 7
#define EXPIRY_MONTH_DAYS 30

/* Up to this many certificates, one row and one mark each; beyond it the
 * rows would be too many to read, and a histogram says more. */
#define EXPIRY_MARKS_MAX 50

/* Lanes drawn at most: the largest groups keep their own, the others
 * share one lane, "other groups". */
#define EXPIRY_LANES_MAX 8

/* Bars per lane at most: the bar width grows until they fit. */
#define EXPIRY_BARS_MAX 60

/* How far the axis reaches at most (days left); a certificate beyond is
 * drawn at the axis' end, its own days in its title. */
#define EXPIRY_AXIS_MIN (-365)
#define EXPIRY_AXIS_MAX 1825

/* One certificate a server holds. */
struct expiry_cert {
	const char *name;           /* the server */
	const char *group;          /* its lane; NULL or "": no group */
	time_t not_after;
	long long days;             /* days left, as report_days_left */
};

/* The urgency of a certificate with days left. */
enum expiry_urgency expiry_urgency_of(long long days);

/* "expired", "within 7 days", "within 30 days", "later". */
const char *expiry_urgency_name(enum expiry_urgency u);

/*
 * The histogram's bar width in days for an axis from lo to hi days left
 * (hi excluded): the smallest of 1, 7, 14, 30, 91 and 365 that needs at
 * most EXPIRY_BARS_MAX bars, bars starting at multiples of the width (so
 * that 0, the day certificates expire, is always a bar's edge).
 */
int expiry_bar_days(long long lo, long long hi);

/* The first day of the bar that holds days, for bars w days wide. */
long long expiry_bar_of(long long days, int w);

/*
 * Writes the picture of the n certificates in c to out: a legend with the
 * count of each urgency, then one <svg> (marks, or a histogram when n is
 * above EXPIRY_MARKS_MAX). Every name is escaped. Returns 0, or CF_ENOMEM.
 */
int expiry_write(FILE *out, const struct expiry_cert *c, size_t n);

#endif
