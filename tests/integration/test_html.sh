# The HTML report (`report --html`, `run --html`) as headless Chromium
# renders it: --dump-dom for the elements and the numbers (the summary is
# status --json's, each mark's days left are openssl's on the installed
# file), a screenshot that shows the picture in its colours, a fleet whose
# CA names and errors hold markup (shown as text, nothing injected), and a
# 10,000-server report under its size bound.
#
# Certificates of different ages come from real runs at other times:
# faketime moves certfleet's clock (and its embedded CA's) back, so a
# 90-day certificate issued "100 days ago" has expired today.
#
# HTML_SCREENSHOT_OUT=FILE also copies the ten-server screenshot to FILE
# (`make report-screenshot` writes docs/report.png that way).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}
if [ ! -x "$CHROMIUM" ]; then
	not_ok "chromium is installed (scripts/deps.sh)"
	exit 1
fi
if ! command -v faketime >/dev/null; then
	not_ok "faketime is installed (scripts/deps.sh)"
	exit 1
fi
DOM=$ROOT/tests/integration/html_dom.py
PNG=$ROOT/tests/integration/png_check.py
# The picture's colours (engine/report/expiry.c), expired to later.
COLOURS=('#c62828' '#ef6c00' '#f9a825' '#2e7d32')

# browser OUT ARGS...: headless Chromium on a throw-away profile, with no
# network (every host unresolvable, a dead proxy) and no sandbox as root
# (it refuses to start otherwise). timeout kills it, and the processes it
# started, when it hangs.
browser() {
	local out=$1 sandbox=
	shift
	[ "$(id -u)" -eq 0 ] && sandbox=--no-sandbox
	timeout -k 5 120 "$CHROMIUM" --headless $sandbox --disable-gpu \
	    --user-data-dir="$TMP/chromium" --no-first-run \
	    --disable-background-networking --disable-component-update \
	    --disable-sync --proxy-server=127.0.0.1:9 \
	    --host-resolver-rules='MAP * ~NOTFOUND' "$@" \
	    >"$out" 2>>"$TMP/chromium.log"
}

# facts PAGE.html: the DOM facts (html_dom.py) of the page as Chromium
# parsed it, as one JSON object.
facts() {
	browser "$1.dom" --dump-dom "file://$1" && "$DOM" "$1.dom"
}

# shot PAGE.html PNG W H: a screenshot of the page's first W x H pixels.
shot() {
	browser /dev/null --screenshot="$2" --window-size="$3,$4" \
	    --hide-scrollbars "file://$1"
}

# at OFFSET COMMAND...: COMMAND with the clock moved by OFFSET ("-100d").
at() {
	local off=$1
	shift
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$off" "$@"
}

# days_of PEM: whole days left on the certificate, rounded down as the
# report counts them (openssl is the oracle).
days_of() {
	local end now
	end=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')" +%s)
	now=$(date +%s)
	if [ "$end" -ge "$now" ]; then echo $(((end - now) / 86400))
	else echo $((-((now - end + 86399) / 86400))); fi
}

# A mark's title for a server holding PEM, as the report words it.
title_of() {
	local d day
	d=$(days_of "$2")
	day=$(date -u -d "$(openssl x509 -in "$2" -noout -enddate | sed 's/^notAfter=//')" +%F)
	if [ "$d" -lt 0 ]; then
		echo "$1: expired $((-d)) day$([ "$d" -eq -1 ] || echo s) ago, on $day"
	else
		echo "$1: $d day$([ "$d" -eq 1 ] || echo s) left, until $day"
	fi
}

# self_contained NAME PAGE: nothing in the file that fetches or runs.
self_contained() {
	local bad
	bad=$(grep -oiE '<(script|link|img|iframe|object|embed)|(src|href)=|url\(|@import|https?://[^"]*' "$2" |
	    grep -vx 'http://www.w3.org/2000/svg' | sort -u | tr '\n' ' ')
	if [ -z "$bad" ] && grep -q "Content-Security-Policy\" content=\"default-src 'none'" "$2"; then
		ok "$1: self-contained (no script, link, image, URL or import; CSP default-src 'none')"
	else
		not_ok "$1: self-contained: found $bad"
	fi
}

# --- the picture's fleet: ten servers, three groups, every urgency --------
F=$TMP/f
mkfleet "$F" 10 'ca = { allowed_domains = [ "contoso.test" ]; };'
sed -i -e 's/name = "t"; state_dir = "state";/name = "contoso-web"; state_dir = "state"; renew_before_days = 1;/' \
    -e 's|root = "servers/s0[1-4]"; |&groups = [ "web" ]; |' \
    -e 's|root = "servers/s0[5-7]"; |&groups = [ "db" ]; |' \
    -e 's#root = "servers/s\(0[89]\|10\)"; #&groups = [ "edge" ]; #' "$F/fleet.cfg"
days() { sed -i -E "s/O=Test\";( days = [0-9]+;)?/O=Test\"; days = $1;/" "$F/fleet.cfg"; }
at -400d "$CERTFLEET" ca init "$F/fleet.cfg" >/dev/null
for i in 01 02 03 04 05 06 07 08 09 10; do give_cas "$F" "s$i" both; done
# fleet_run OFFSET ARGS...: a run of the fleet with the clock at OFFSET
# ("now": not moved).
fleet_run() {
	local off=$1
	shift
	if [ "$off" = now ]; then
		"$CERTFLEET" run --quiet "$@" "$F/fleet.cfg" >/dev/null
	else
		at "$off" "$CERTFLEET" run --quiet "$@" "$F/fleet.cfg" >/dev/null
	fi
}
days 90;  fleet_run -100d                          # all: expired 10 days ago
days 40;  fleet_run -20d --force --limit db        # s05-s07: 20 days left
days 10;  fleet_run -5d --force --limit s03,s04    # 5 days left
days 200; fleet_run now --force --limit edge       # s08-s10: 200 days left
# Then what needs a person, each server keeping the certificate it holds:
sed -i 's/"s02.contoso.test"/"s02.evil.example"/' "$F/fleet.cfg"
fleet_run now --force --limit s02                  # denied
rm "$F/servers/s09/trust/intermediates/issuing.pem"
fleet_run now --force --limit s09                  # lacking a CA
mv "$F/servers/s10" "$F/servers/s10.away"
fleet_run now --force --limit s10 --html "$TMP/run.html"; rc=$? # failed
mv "$F/servers/s10.away" "$F/servers/s10"
sed -i 's/ca = { allowed_domains/ca = { approval = "manual"; allowed_domains/' "$F/fleet.cfg"
fleet_run now --force --limit s06                  # pending approval
sed -i 's/approval = "manual"; //' "$F/fleet.cfg"

check "run --html exits as the run does (1: s10 failed)" [ "$rc" -eq 1 ]
f=$(facts "$TMP/run.html")
check "run --html: the run's report, one server, failed" \
	[ "$(jq -c '[.rows, .summary.servers, .summary.failed, .needs["need-failed"]]' <<<"$f")" = "[1,1,1,1]" ]

"$CERTFLEET" report --html "$TMP/f.html" "$F/fleet.cfg"; rc=$?
st=$("$CERTFLEET" status --json "$F/fleet.cfg")
check "report exits as status does (1: servers need a person)" [ "$rc" -eq 1 ]
check "report prints nothing and writes the page 0644" \
	[ "$("$CERTFLEET" report --html "$TMP/f.html" "$F/fleet.cfg" 2>&1)/$(stat -c %a "$TMP/f.html")" = /644 ]
self_contained "report" "$TMP/f.html"
f=$(facts "$TMP/f.html")
check "Chromium parsed it: no element that runs or fetches" \
	[ "$(jq -c '[.active, .fetching_attrs]' <<<"$f")" = '[[],[]]' ]
check "the summary shows status --json's numbers, in the table's words" \
	[ "$(jq -c '.summary' <<<"$f")" = "$(jq -c --argjson s "$(jq '.summary' <<<"$st")" '.summary | with_entries(.value = $s[.key])' <<<"$f")" ]
check "every status --json summary number it leaves out is 0" \
	[ "$(jq -r --argjson shown "$(jq '.summary' <<<"$f")" '[.summary | to_entries[] | select($shown[.key] == null) | .value] | add // 0' <<<"$st")" = 0 ]
check "the summary says 10 servers and what needs a person" \
	[ "$(jq -c '.summary | [.servers, .denied, .failed, .pending, .missing_ca]' <<<"$f")" = "[10,1,1,1,1]" ]
check "one table row per server (10)" [ "$(jq '.rows' <<<"$f")" = "$(jq '.servers | length' <<<"$st")" ]
check "a picture of marks, one per server holding a certificate (10)" \
	[ "$(jq -c '[.svg, .marks]' <<<"$f")" = '[["marks"],10]' ]
want=$(for i in 01 02 03 04 05 06 07 08 09 10; do title_of "s$i" "$F/servers/s$i/certs/default.pem"; done | sort)
got=$(jq -r '.mark_titles[]' <<<"$f" | sort)
if [ "$got" = "$want" ]; then
	ok "each mark's days left and date are openssl's on the installed file"
else
	not_ok "each mark's days left and date are openssl's: got"$'\n'"$got"$'\n'"# want"$'\n'"$want"
fi
legend=$(for i in 01 02 03 04 05 06 07 08 09 10; do days_of "$F/servers/s$i/certs/default.pem"; done |
    awk '{ u = $1 < 0 ? 0 : $1 < 7 ? 1 : $1 < 30 ? 2 : 3; n[u]++ }
         END { printf "[%d,%d,%d,%d]", n[0], n[1], n[2], n[3] }')
check "the legend counts each urgency as openssl's dates do ($legend)" \
	[ "$(jq -c '.legend | [."u-expired", ."u-week", ."u-month", ."u-later"]' <<<"$f")" = "$legend" ]
check "every urgency is in the picture" [ "$legend" = "[2,2,3,3]" ]
check "needing a person: one row per missing CA, failed, denied, pending" \
	[ "$(jq -c '.needs | [."need-missing-ca", ."need-failed", ."need-denied", ."need-pending"]' <<<"$f")" = "[$(jq '[.servers[].chain.missing | length] | add' <<<"$st"),1,1,1]" ]
check "the missing CA is named with the SHA-1 openssl gives it" \
	grep -qF "CN=contoso-web Issuing CA, O=contoso-web$(sha1_of "$F/state/ca/issuing.pem")" <<<"$(jq -r .text <<<"$f")"
check "the failed server's error, as status --json has it" \
	grep -qF "$(jq -r '.servers[] | select(.name == "s10") | .error' <<<"$st")" <<<"$(jq -r .text <<<"$f")"
check "the denial's reason, as status --json has it" \
	grep -qF "$(jq -r '.servers[] | select(.name == "s02") | .error' <<<"$st")" <<<"$(jq -r .text <<<"$f")"

shot "$TMP/f.html" "$TMP/f.png" 1280 1540
p=$("$PNG" "$TMP/f.png" "${COLOURS[@]}")
check "the screenshot is 1280 x 1540" [ "$(jq -c '[.width, .height]' <<<"$p")" = "[1280,1540]" ]
check "and not blank (many colours)" [ "$(jq '.colours' <<<"$p")" -gt 100 ]
check "the picture is drawn: every urgency's colour covers pixels" \
	[ "$(jq '[.near[] | select(. >= 40)] | length' <<<"$p")" -eq 4 ]
if [ -n "${HTML_SCREENSHOT_OUT:-}" ]; then
	mkdir -p "$(dirname "$HTML_SCREENSHOT_OUT")"
	cp "$TMP/f.png" "$HTML_SCREENSHOT_OUT"
	echo "# screenshot written to $HTML_SCREENSHOT_OUT"
fi

# --- --limit and --exclude, refusals, a fleet never run -------------------
"$CERTFLEET" report --limit web --exclude s01 --html "$TMP/web.html" "$F/fleet.cfg"
f=$(facts "$TMP/web.html")
check "report honours --limit and --exclude (3 servers, 3 marks)" \
	[ "$(jq -c '[.rows, .marks, .summary.servers]' <<<"$f")" = "[3,3,3]" ]
err=$("$CERTFLEET" report "$F/fleet.cfg" 2>&1); rc=$?
check "report without --html is a usage error naming --html" \
	[ "$rc/$(grep -c -- '--html FILE' <<<"$err")" = 2/1 ]
err=$("$CERTFLEET" report --html "$TMP/no/such/r.html" "$F/fleet.cfg" 2>&1); rc=$?
check "a page that cannot be written: exit 1, naming the file" \
	[ "$rc/$(grep -c "cannot write '$TMP/no/such/r.html'" <<<"$err")" = 1/1 ]
"$CERTFLEET" status --html "$TMP/x.html" "$F/fleet.cfg" >/dev/null 2>&1; rc=$?
check "status does not take --html (exit 2; report does)" [ "$rc" -eq 2 ]
documents_html() { "$CERTFLEET" "$1" --help | grep -q -- '--html FILE'; }
check "run --help documents --html" documents_html run
check "report --help documents --html" documents_html report
E=$TMP/empty
mkfleet "$E" 2
"$CERTFLEET" report --html "$TMP/empty.html" "$E/fleet.cfg"; rc=$?
f=$(facts "$TMP/empty.html")
check "before any run: 2 rows, no picture, made no state directory" \
	[ "$rc/$(jq -c '[.rows, .svg, .marks]' <<<"$f")/$([ -e "$E/state" ] && echo state)" = "0/[2,[],0]/" ]
check "and says both hold no certificate" grep -q "2 servers hold no certificate" <<<"$(jq -r .text <<<"$f")"

# --- markup in CA names and errors is text ---------------------------------
# A command CA (certmonger's helper protocol) whose CAs' names and answers
# hold markup. Server and fleet names cannot (the fleet file refuses all
# but [A-Za-z0-9._-]); tests/unit/test_html.c renders such names too.
EVIL="<script>alert(1)</script> & \"quoted\" 'single' <b>bold</b>"
H=$TMP/hostile
CA=$H/ca
mkdir -p "$CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 3650 -subj "/O=Evil & Co/CN=<script>alert(1)<\\/script> Root" \
    -keyout "$CA/root.key" -out "$CA/root.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=Evil & Co/CN=<script>alert(2)<\\/script> \"Issuing\" 'CA'" \
    -keyout "$CA/inter.key" -out "$CA/inter.csr" 2>/dev/null
openssl x509 -req -in "$CA/inter.csr" -CA "$CA/root.pem" -CAkey "$CA/root.key" \
    -set_serial 2 -days 3650 -out "$CA/inter.pem" -extfile <(printf '%s\n' \
    'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' \
    'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid') 2>/dev/null
cat >"$H/helper.sh" <<'HELPER'
#!/bin/bash
# HOST.mode: pem (issued), reject (2), unreachable (3), underconfigured (4);
# the answers' text is $EVIL.
ca=$1
case ${CERTMONGER_OPERATION:-} in
FETCH-ROOTS) cat "$ca/roots"; exit 0 ;;
SUBMIT|POLL) ;;
*) exit 6 ;;
esac
host=$(printf '%s\n' "$CERTMONGER_REQ_HOSTNAME" | head -n 1)
case $(cat "$ca/$host.mode") in
pem)
	printf '%s\n' "$CERTMONGER_CSR" >"$ca/$host.csr"
	openssl x509 -req -in "$ca/$host.csr" -CA "$ca/inter.pem" \
	    -CAkey "$ca/inter.key" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 30 -copy_extensions copy 2>/dev/null
	cat "$ca/inter.pem"
	exit 0 ;;
reject) cat "$ca/evil"; exit 2 ;;
unreachable) cat "$ca/evil"; exit 3 ;;
*) cat "$ca/evil"; exit 4 ;;
esac
HELPER
chmod +x "$H/helper.sh"
printf '%s\n' "$EVIL" >"$CA/evil"
{ echo "Evil Root"; cat "$CA/root.pem"; echo; echo; echo "Evil Issuing"; cat "$CA/inter.pem"; } >"$CA/roots"
mkfleet "$H" 5 "ca = { type = \"command\"; helper = [ \"$H/helper.sh\", \"$CA\" ]; timeout = 20; max_wait = 0; };"
modes=(pem pem reject underconfigured unreachable)
for i in 1 2 3 4 5; do
	mkdir -p "$H/servers/s$i/trust/roots" "$H/servers/s$i/trust/intermediates" "$H/servers/s$i/certs"
	echo "${modes[$((i - 1))]}" >"$CA/s$i.contoso.test.mode"
	[ "$i" = 2 ] || cp "$CA/root.pem" "$H/servers/s$i/trust/roots/"
	[ "$i" = 2 ] || cp "$CA/inter.pem" "$H/servers/s$i/trust/intermediates/"
done
"$CERTFLEET" run --quiet --html "$TMP/evil-run.html" "$H/fleet.cfg" >/dev/null
"$CERTFLEET" report --html "$TMP/evil.html" "$H/fleet.cfg"
st=$("$CERTFLEET" status --json "$H/fleet.cfg")
check "the hostile fleet: assigned, lacking CAs, denied, failed, pending" \
	[ "$(jq -c '[.servers[].status]' <<<"$st")" = '["assigned","issued","denied","failed","pending"]' ]
# (A DN's text escapes < > " with a backslash, RFC 4514; & and ' stay.)
check "its errors and CA names hold markup (status --json)" \
	[ "$(jq -c '[.servers[] | (.error // empty), (.chain.missing[].subject) | select(test("<"))] | length' <<<"$st")" -eq 5 ]
self_contained "the hostile fleet's report" "$TMP/evil.html"
check "the file holds no '<script' at all, only escaped markup" \
	[ "$(grep -c '<script' "$TMP/evil.html")/$(grep -c '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#39;single&#39;' "$TMP/evil.html")" = 0/3 ]
for page in evil evil-run; do
	f=$(facts "$TMP/$page.html")
	check "$page: Chromium's DOM has no script, no <b> from the data" \
		[ "$(jq -c '[.active, .fetching_attrs]' <<<"$f")/$(grep -c '<b>bold</b>' "$TMP/$page.html.dom")" = '[[],[]]/0' ]
	n=0
	while IFS= read -r want; do
		grep -qF -- "$want" <<<"$(jq -r .text <<<"$f")" && n=$((n + 1))
	done < <(jq -r '.servers[] | (.error // empty), (.chain.missing[] | .subject, .sha1)' <<<"$st")
	check "$page: every error, CA name and SHA-1 is in its text, literally ($n of 7)" [ "$n" -eq 7 ]
done

# --- 10,000 servers ----------------------------------------------------------
# A 10,000-server fleet in 12 groups of uneven size (the picture keeps 7
# lanes and puts the rest in "other groups"). HTML_BIG_RUN of them (1,000;
# at some 200 servers a second, a real run of all 10,000 would take most of
# a minute on two cores) get certificates in five runs at five times, so
# the bars spread from expired to 89 days; the others were never run and have
# their table rows, without a picture. The page must stay under
# HTML_BIG_BOUND bytes (3.5 MB, as the README states).
N=10000
RUNS=${HTML_BIG_RUN:-1000}
BOUND=${HTML_BIG_BOUND:-3500000}
B=$TMP/big
mkdir -p "$B"
cp -r "$F/state/ca" "$B/ca"                     # the picture's CA, reused
cat >"$B/fleet.cfg" <<'CFG'
fleet = { name = "ten-thousand"; state_dir = "state"; concurrency = 64; renew_before_days = 1; };
ca = { root_cert = "ca/root.pem"; root_key = "ca/root.key";
       issuing_cert = "ca/issuing.pem"; issuing_key = "ca/issuing.key"; };
request = { subject = "CN={{address}}, O=Big"; san = [ "DNS:{{address}}" ]; days = 90; };
usages = [ "default" ];
servers = (
@include "servers.cfg"
);
CFG
python3 - "$B" "$N" "$RUNS" <<'PY'
import os, sys
d, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# gK gets 13 - K of every 78 servers: sizes fall from g01 (about 1,540)
# to g12 (about 130).
weights = [12 - k for k in range(12)]
groups = [k for k, w in enumerate(weights) for _ in range(w)]
with open(d + "/servers.cfg", "w") as f:
    for i in range(n):
        g = "g%02d" % (groups[i % len(groups)] + 1)
        extra = ', "b%d"' % (i % 5) if i < runs else ""
        f.write('%s{ name = "h%05d"; address = "h%05d.big.test"; '
                'root = "servers/h%05d"; groups = [ "%s"%s ]; }\n'
                % ("," if i else "", i, i, i, g, extra))
        if i < runs:
            s = "%s/servers/h%05d" % (d, i)
            for sub in ("trust/roots", "trust/intermediates", "certs"):
                os.makedirs(s + "/" + sub)
            os.link(d + "/ca/root.pem", s + "/trust/roots/root.pem")
            os.link(d + "/ca/issuing.pem", s + "/trust/intermediates/i.pem")
PY
# 90-day certificates issued 99, 88, 70 and 40 days ago, and today: -10,
# 1, 19, 49 and 89 days left.
ago=(99 88 70 40 0)
for k in 0 1 2 3 4; do
	at "-${ago[k]}d" "$CERTFLEET" run --quiet --limit "b$k" "$B/fleet.cfg" >/dev/null
done
"$CERTFLEET" report --html "$TMP/big.html" "$B/fleet.cfg"; rc=$?
size=$(stat -c %s "$TMP/big.html")
check "10,000 servers: report exits 0" [ "$rc" -eq 0 ]
check "10,000 servers: the page is $size bytes, under $BOUND" [ "$size" -lt "$BOUND" ]
f=$(facts "$TMP/big.html")
check "10,000 servers: Chromium lays out every row (10,000)" [ "$(jq '.rows' <<<"$f")" -eq "$N" ]
held=$(find "$B/servers" -name default.pem | wc -l)
check "10,000 servers: a histogram whose bars count every certificate ($held)" \
	[ "$(jq -c '[.svg, .marks, .bar_sum]' <<<"$f")" = "[[\"histogram\"],0,$held]" ]
check "10,000 servers: the bars are stacked by urgency, all four present" \
	[ "$(jq -c '[.legend[] | select(. > 0)] | length' <<<"$f")" -eq 4 ]
check "10,000 servers: 7 group lanes and 'other groups'" \
	[ "$(grep -c 'class="lane"' "$TMP/big.html")/$(grep -c '>other groups<' "$TMP/big.html")" = 8/1 ]
shot "$TMP/big.html" "$TMP/big.png" 1280 1000
p=$("$PNG" "$TMP/big.png" "${COLOURS[@]}")
check "10,000 servers: the screenshot is drawn (1280 x 1000, every colour)" \
	[ "$(jq -c '[.width, .height, .colours > 100, ([.near[] | select(. >= 40)] | length)]' <<<"$p")" = "[1280,1000,true,4]" ]
