/*
 * The expiry picture (see expiry.h). Everything is laid out here in SVG
 * user units on a fixed 960-wide canvas that scales with the page; the
 * colours are attributes, not page CSS, so the picture stays right when
 * it is copied out of the report on its own.
 */
#include "engine/report/expiry.h"
#include "engine/base/err.h"
#include "engine/report/html_escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 960
#define NAME_MAX_BYTES 28           /* of a name shown beside its mark */

static const struct {
	const char *name;
	const char *colour;
} urgencies[EXPIRY_URGENCY_MAX] = {
	[EXPIRY_EXPIRED] = { "expired", "#c62828" },
	[EXPIRY_WEEK] = { "within 7 days", "#ef6c00" },
	[EXPIRY_MONTH] = { "within 30 days", "#f9a825" },
	[EXPIRY_LATER] = { "later", "#2e7d32" },
};

/* CSS class words, one per urgency, for whoever reads the DOM. */
static const char *const urgency_class[EXPIRY_URGENCY_MAX] = {
	"u-expired", "u-week", "u-month", "u-later"
};

enum expiry_urgency expiry_urgency_of(long long days)
{
	if (days < 0)
		return EXPIRY_EXPIRED;
	if (days < EXPIRY_WEEK_DAYS)
		return EXPIRY_WEEK;
	return days < EXPIRY_MONTH_DAYS ? EXPIRY_MONTH : EXPIRY_LATER;
}

const char *expiry_urgency_name(enum expiry_urgency u)
{
	return (unsigned)u < EXPIRY_URGENCY_MAX ? urgencies[u].name : "?";
}

long long expiry_bar_of(long long days, int w)
{
	long long q = days / w;

	return (days % w != 0 && days < 0 ? q - 1 : q) * w;
}

int expiry_bar_days(long long lo, long long hi)
{
	static const int widths[] = { 1, 7, 14, 30, 91, 365 };
	size_t i;
	long long bars = 0;

	for (i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		bars = (expiry_bar_of(hi - 1, widths[i]) + widths[i] -
		    expiry_bar_of(lo, widths[i])) / widths[i];
		if (bars <= EXPIRY_BARS_MAX)
			break;
	}
	return i < sizeof widths / sizeof widths[0] ? widths[i] : 365;
}

/* What the drawing needs besides the certificates: each one's lane, the
 * lanes' names, the axis and where it lies on the canvas. */
struct layout {
	const struct expiry_cert *c;
	size_t n;
	size_t *lane;               /* per certificate */
	const char *lane_name[EXPIRY_LANES_MAX];
	size_t lane_n[EXPIRY_LANES_MAX];
	size_t nlanes;
	long long lo, hi;           /* the axis, in days left (hi excluded) */
	double x0, x1;              /* where it is drawn */
};

static const char *group_of(const struct expiry_cert *c)
{
	return c->group ? c->group : "";
}

/* One distinct group: its name, size, first certificate, and the lane
 * it is drawn in. */
struct group {
	const char *name;
	size_t n, first;
	size_t lane;
};

struct by_group {
	const char *name;
	size_t i;
};

static int cmp_by_group(const void *a, const void *b)
{
	const struct by_group *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Larger first; of equal size, the one the inventory names first. */
static int cmp_by_size(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return (x->first > y->first) - (x->first < y->first);
}

static int cmp_by_first(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/* The lanes: every group in inventory order while they fit, else the
 * largest EXPIRY_LANES_MAX - 1 in inventory order and "other groups"
 * last. Each group is known by its first certificate, first_of[i] for
 * certificate i, which is where its lane is noted. */
static void assign_lanes(struct layout *l, struct group *g, size_t ng,
    const size_t *first_of)
{
	size_t i, keep = ng <= EXPIRY_LANES_MAX ? ng : EXPIRY_LANES_MAX - 1;

	qsort(g, ng, sizeof(*g), cmp_by_size);
	qsort(g, keep, sizeof(*g), cmp_by_first);
	for (i = 0; i < ng; i++) {
		g[i].lane = i < keep ? i : keep;
		l->lane_name[g[i].lane] = i < keep ? g[i].name : NULL;
		l->lane_n[g[i].lane] += g[i].n;
		l->lane[g[i].first] = g[i].lane;
	}
	l->nlanes = keep < ng ? keep + 1 : keep;
	for (i = 0; i < l->n; i++)
		l->lane[i] = l->lane[first_of[i]];
}

/* Groups the certificates by name (sorting, not comparing every pair:
 * 10,000 servers may each have a group of their own). */
static int make_lanes(struct layout *l)
{
	struct by_group *s = calloc(l->n + 1, sizeof(*s));
	struct group *g = calloc(l->n + 1, sizeof(*g));
	size_t *first_of = calloc(l->n + 1, sizeof(*first_of));
	size_t i, ng = 0;
	int rc = CF_ENOMEM;

	if (s == NULL || g == NULL || first_of == NULL)
		goto out;
	for (i = 0; i < l->n; i++)
		s[i] = (struct by_group){ group_of(&l->c[i]), i };
	qsort(s, l->n, sizeof(*s), cmp_by_group);
	for (i = 0; i < l->n; i++) {
		if (i == 0 || strcmp(s[i].name, s[i - 1].name) != 0)
			g[ng++] = (struct group){ s[i].name, 0, s[i].i, 0 };
		g[ng - 1].n++;
		first_of[s[i].i] = g[ng - 1].first;
	}
	assign_lanes(l, g, ng, first_of);
	rc = 0;
out:
	free(s);
	free(g);
	free(first_of);
	return rc;
}

/* The axis: from the earliest expiry (or 0) to the latest (or 30 days),
 * within EXPIRY_AXIS_MIN and _MAX; a histogram's ends on bar edges. */
static void make_axis(struct layout *l, bool histogram)
{
	size_t i;
	int w;

	l->lo = 0;
	l->hi = EXPIRY_MONTH_DAYS;
	for (i = 0; i < l->n; i++) {
		if (l->c[i].days < l->lo)
			l->lo = l->c[i].days;
		if (l->c[i].days + 1 > l->hi)
			l->hi = l->c[i].days + 1;
	}
	l->lo = l->lo < EXPIRY_AXIS_MIN ? EXPIRY_AXIS_MIN : l->lo;
	l->hi = l->hi > EXPIRY_AXIS_MAX ? EXPIRY_AXIS_MAX : l->hi;
	if (histogram) {
		w = expiry_bar_days(l->lo, l->hi);
		l->lo = expiry_bar_of(l->lo, w);
		l->hi = expiry_bar_of(l->hi - 1, w) + w;
	}
}

static long long clamp(const struct layout *l, long long d)
{
	return d < l->lo ? l->lo : d > l->hi ? l->hi : d;
}

static double x_of(const struct layout *l, long long d)
{
	return l->x0 + (double)(clamp(l, d) - l->lo) * (l->x1 - l->x0) /
	    (double)(l->hi - l->lo);
}

static void write_lane_name(FILE *out, const struct layout *l, size_t k)
{
	if (l->lane_name[k] == NULL)
		fputs("other groups", out);
	else if (l->lane_name[k][0] == '\0')
		fputs("(no group)", out);
	else
		html_escape(out, l->lane_name[k], NAME_MAX_BYTES);
}

/* Grid lines at round numbers of days, the lines at 0, 7 and 30 days in
 * their urgency's colour, and the axis' labels below y. */
static void write_axis(FILE *out, const struct layout *l, double top,
    double y)
{
	static const int steps[] = { 1, 7, 14, 30, 60, 90, 180, 365 };
	static const struct { int day; enum expiry_urgency u; } marks[] = {
		{ 0, EXPIRY_EXPIRED }, { EXPIRY_WEEK_DAYS, EXPIRY_WEEK },
		{ EXPIRY_MONTH_DAYS, EXPIRY_MONTH },
	};
	long long d, step = 365;
	size_t i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if ((l->hi - l->lo) / steps[i] <= 12) {
			step = steps[i];
			break;
		}
	for (d = expiry_bar_of(l->lo, (int)step); d <= l->hi; d += step) {
		if (d < l->lo)
			continue;
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n<text class=\"tick\" "
		    "x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%lld</text>\n",
		    x_of(l, d), top, x_of(l, d), y, x_of(l, d), y + 14, d);
	}
	for (i = 0; i < sizeof marks / sizeof marks[0]; i++)
		if (marks[i].day >= l->lo && marks[i].day <= l->hi)
			fprintf(out, "<line class=\"threshold\" x1=\"%.1f\" "
			    "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			    "stroke-dasharray=\"4 3\"/>\n", x_of(l, marks[i].day),
			    top, x_of(l, marks[i].day), y,
			    urgencies[marks[i].u].colour);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "stroke=\"#616161\"/>\n<text class=\"axis-title\" x=\"%.1f\" "
	    "y=\"%.1f\" text-anchor=\"middle\">days left (below 0: expired)"
	    "</text>\n", l->x0, y, l->x1, y, (l->x0 + l->x1) / 2, y + 30);
}

static void write_days(FILE *out, const struct expiry_cert *c)
{
	char day[16];
	struct tm tm;

	gmtime_r(&c->not_after, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	if (c->days < 0)
		fprintf(out, "expired %lld day%s ago, on %s", -c->days,
		    c->days == -1 ? "" : "s", day);
	else
		fprintf(out, "%lld day%s left, until %s", c->days,
		    c->days == 1 ? "" : "s", day);
}

struct order {
	const struct layout *l;
	size_t i;
};

/* By lane, then the soonest to expire first, then inventory order. */
static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	const struct layout *l = x->l;
	size_t lx = l->lane[x->i], ly = l->lane[y->i];
	long long dx = l->c[x->i].days, dy = l->c[y->i].days;

	if (lx != ly)
		return (lx > ly) - (lx < ly);
	if (dx != dy)
		return (dx > dy) - (dx < dy);
	return (x->i > y->i) - (x->i < y->i);
}

/* One row per certificate under its lane's name: the server's name, a
 * stem from 0 days, its mark and its days left. */
static int write_marks(FILE *out, struct layout *l)
{
	struct order *o = calloc(l->n + 1, sizeof(*o));
	const struct expiry_cert *c;
	double y = 8, cy, top = 8;
	size_t i, lane = (size_t)-1;
	enum expiry_urgency u;

	if (o == NULL)
		return CF_ENOMEM;
	for (i = 0; i < l->n; i++)
		o[i] = (struct order){ l, i };
	qsort(o, l->n, sizeof(*o), cmp_order);
	l->x0 = 230;
	l->x1 = 880;
	for (i = 0; i < l->n; i++) {
		c = &l->c[o[i].i];
		if (l->lane[o[i].i] != lane) {
			lane = l->lane[o[i].i];
			y += i ? 8 : 0;
			fputs("<text class=\"lane\" x=\"8\" y=\"", out);
			fprintf(out, "%.1f\">", y + 14);
			write_lane_name(out, l, lane);
			fputs("</text>\n", out);
			y += 20;
		}
		cy = y + 9;
		u = expiry_urgency_of(c->days);
		fprintf(out, "<text class=\"name\" x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"end\">", l->x0 - 12, cy + 4);
		html_escape(out, c->name, NAME_MAX_BYTES);
		fprintf(out, "</text>\n<line x1=\"%.1f\" y1=\"%.1f\" "
		    "x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-opacity="
		    "\"0.35\" stroke-width=\"2\"/>\n<circle class=\"mark %s\" "
		    "cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>",
		    x_of(l, 0), cy, x_of(l, c->days), cy, urgencies[u].colour,
		    urgency_class[u], x_of(l, c->days), cy,
		    urgencies[u].colour);
		html_escape(out, c->name, SIZE_MAX);
		fputs(": ", out);
		write_days(out, c);
		/* A white halo keeps the number readable over the stem. */
		fprintf(out, "</title></circle>\n<text class=\"days\" "
		    "x=\"%.1f\" y=\"%.1f\" stroke=\"#fff\" stroke-width=\"3\" "
		    "paint-order=\"stroke\">%lld d</text>\n",
		    x_of(l, c->days) + 9, cy + 4, c->days);
		y += 18;
	}
	write_axis(out, l, top, y + 4);
	free(o);
	return 0;
}

/* One lane's bars: count[b * EXPIRY_URGENCY_MAX + u] certificates of
 * urgency u in bar b, stacked from the most urgent up, scaled to the
 * lane's highest bar (its number beside the lane's name). */
static void write_bars(FILE *out, const struct layout *l, size_t lane,
    const int *count, long long nbars, int w, double base)
{
	const double h = 44;
	long long b;
	double y, bh;
	int peak = 1, tot, u;

	for (b = 0; b < nbars; b++) {
		for (tot = 0, u = 0; u < EXPIRY_URGENCY_MAX; u++)
			tot += count[b * EXPIRY_URGENCY_MAX + u];
		peak = tot > peak ? tot : peak;
	}
	fprintf(out, "<text class=\"lane\" x=\"8\" y=\"%.1f\">", base - 26);
	write_lane_name(out, l, lane);
	fprintf(out, "</text>\n<text class=\"peak\" x=\"8\" y=\"%.1f\">%zu "
	    "server%s, highest bar %d</text>\n", base - 10, l->lane_n[lane],
	    l->lane_n[lane] == 1 ? "" : "s", peak);
	for (b = 0; b < nbars; b++) {
		long long from = l->lo + b * w;
		double x = x_of(l, from), bw = x_of(l, from + w) - x - 1;

		y = base;
		for (u = 0; u < EXPIRY_URGENCY_MAX; u++) {
			int k = count[b * EXPIRY_URGENCY_MAX + u];

			if (k == 0)
				continue;
			bh = h * k / peak < 1 ? 1 : h * k / peak;
			y -= bh;
			fprintf(out, "<rect class=\"bar %s\" data-n=\"%d\" "
			    "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height="
			    "\"%.1f\" fill=\"%s\"><title>", urgency_class[u], k,
			    x, y, bw < 1 ? 1 : bw, bh, urgencies[u].colour);
			write_lane_name(out, l, lane);
			if (w == 1)
				fprintf(out, ": %lld days left", from);
			else
				fprintf(out, ": %lld to %lld days left", from,
				    from + w - 1);
			fprintf(out, ", %s: %d server%s</title></rect>\n",
			    urgencies[u].name, k, k == 1 ? "" : "s");
		}
	}
}

/* A lane per group, each a histogram of days left over the same axis. */
static int write_histogram(FILE *out, struct layout *l)
{
	int w = expiry_bar_days(l->lo, l->hi);
	long long nbars = (l->hi - l->lo) / w, b;
	size_t per = (size_t)nbars * EXPIRY_URGENCY_MAX, i, k;
	int *count = calloc(l->nlanes * per + 1, sizeof(*count));
	double base = 8;

	if (count == NULL)
		return CF_ENOMEM;
	for (i = 0; i < l->n; i++) {
		b = (expiry_bar_of(clamp(l, l->c[i].days), w) - l->lo) / w;
		b = b >= nbars ? nbars - 1 : b;
		count[l->lane[i] * per + (size_t)b * EXPIRY_URGENCY_MAX +
		    expiry_urgency_of(l->c[i].days)]++;
	}
	l->x0 = 212;
	l->x1 = 940;
	for (k = 0; k < l->nlanes; k++) {
		base += 48;
		write_bars(out, l, k, count + k * per, nbars, w, base);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#9e9e9e\"/>\n", l->x0, base, l->x1,
		    base);
		base += 12;
	}
	write_axis(out, l, 8, base);
	free(count);
	return 0;
}

/* The SVG's height for what write_marks or write_histogram draws. */
static double height_of(const struct layout *l, bool histogram)
{
	if (histogram)
		return 8 + 60.0 * (double)l->nlanes + 44;
	return 8 + 28.0 * (double)l->nlanes - 8 + 18.0 * (double)l->n + 48;
}

static void write_legend(FILE *out, const struct expiry_cert *c, size_t n)
{
	size_t count[EXPIRY_URGENCY_MAX] = { 0 }, i;
	int u;

	for (i = 0; i < n; i++)
		count[expiry_urgency_of(c[i].days)]++;
	fputs("<ul class=\"legend\">\n", out);
	for (u = 0; u < EXPIRY_URGENCY_MAX; u++)
		fprintf(out, "<li class=\"%s\" data-n=\"%zu\"><span class=\"swatch"
		    "\" style=\"background:%s\"></span>%s: <b>%zu</b></li>\n",
		    urgency_class[u], count[u], urgencies[u].colour,
		    urgencies[u].name, count[u]);
	fputs("</ul>\n", out);
}

int expiry_write(FILE *out, const struct expiry_cert *c, size_t n)
{
	bool histogram = n > EXPIRY_MARKS_MAX;
	struct layout l;
	int rc;

	write_legend(out, c, n);
	if (n == 0)
		return 0;
	memset(&l, 0, sizeof l);
	l.c = c;
	l.n = n;
	if ((l.lane = calloc(n, sizeof(*l.lane))) == NULL ||
	    make_lanes(&l) != 0) {
		free(l.lane);
		return CF_ENOMEM;
	}
	make_axis(&l, histogram);
	fprintf(out, "<svg class=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %.0f\" width=\"%d\" role=\"img\" "
	    "aria-label=\"days left of %zu certificates\">\n",
	    histogram ? "histogram" : "marks", WIDTH,
	    height_of(&l, histogram), WIDTH, n);
	rc = histogram ? write_histogram(out, &l) : write_marks(out, &l);
	fputs("</svg>\n", out);
	free(l.lane);
	return rc;
}
