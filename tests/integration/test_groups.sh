# Groups with settings and named request templates, run on local servers:
# each server's certificate comes from its own template, a manual-approval
# group waits for `certfleet approve`, and check --explain names the line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

G=$TMP/groups
mkdir -p "$G/servers" "$G/templates"
cat >"$G/templates/mail.cfg" <<'CFG'
request = {
  subject = "CN=smtp.{{vars.zone}}, O=Mail";
  san = [ "DNS:{{name}}.{{vars.zone}}", "DNS:smtp.{{vars.zone}}" ];
  days = 60;
};
CFG
cat >"$G/fleet.cfg" <<'CFG'
fleet = { name = "mixed"; state_dir = "state"; };
ca = { allowed_domains = [ "contoso.test" ]; };
vars = { zone = "contoso.test"; };
requests = {
  web = { subject = "CN={{name}}.{{vars.zone}}, O=Web";
    san = [ "DNS:{{name}}.{{vars.zone}}", "DNS:www.{{vars.zone}}" ]; };
  mail = "templates/mail.cfg";
};
groups = {
  edge = { request = "web"; vars = { zone = "edge.contoso.test"; }; };
  mail = { request = "mail"; approval = "manual"; };
};
servers = (
  { name = "web01"; address = "web01.test"; root = "servers/web01";
    groups = [ "edge" ]; },
  { name = "web02"; address = "web02.test"; root = "servers/web02";
    groups = [ "edge", "prod" ]; vars = { zone = "contoso.test"; }; },
  { name = "mx01"; address = "mx01.test"; root = "servers/mx01";
    groups = [ "mail" ]; },
  { name = "mx02"; address = "mx02.test"; root = "servers/mx02";
    groups = [ "edge", "mail" ]; }
);
CFG
ca_init "$G"
for s in web01 web02 mx01 mx02; do give_cas "$G" $s both; done

# --- check: resolved settings and where they come from --------------------
out=$("$CERTFLEET" check --json "$G/fleet.cfg"); rc=$?
check "check accepts groups and named templates (exit 0)" [ "$rc" -eq 0 ]
check "check --json: each server's template and approval, resolved" \
	[ "$(jq -r '[.servers[] | .name + ":" + (.settings.request // "-") + ":" + .settings.approval] | join(" ")' <<<"$out")" = \
	  "web01:web:auto web02:web:auto mx01:mail:manual mx02:mail:manual" ]
check "check --json: a group's vars, and a server's own over them" \
	[ "$(jq -r '[.servers[].settings.vars.zone] | join(" ")' <<<"$out")" = \
	  "edge.contoso.test contoso.test contoso.test edge.contoso.test" ]
out=$("$CERTFLEET" check "$G/fleet.cfg" --explain mx02 request); rc=$?
check "check --explain names the value and the group's FILE:LINE" \
	[ "$rc $out" = "0 request = \"mail\"
  from $G/fleet.cfg:11 (group mail)" ]
out=$("$CERTFLEET" check "$G/fleet.cfg" --explain web02 vars.zone)
check "check --explain: the server's own line wins" \
	[ "$out" = "vars.zone = \"contoso.test\"
  from $G/fleet.cfg:17 (server web02)" ]
out=$("$CERTFLEET" check "$G/fleet.cfg" --explain web01 approval)
check "check --explain: a built-in default says so" \
	[ "$out" = "approval = \"auto\"
  from built-in default" ]
out=$("$CERTFLEET" check --json "$G/fleet.cfg" --explain mx01 approval)
check "check --explain --json" [ "$(jq -r '.value + " " + .from[0]' <<<"$out")" = \
	"manual $G/fleet.cfg:11 (group mail)" ]
err=$("$CERTFLEET" check "$G/fleet.cfg" --explain nope request 2>&1); rc=$?
check "check --explain of an unknown server exits 2 and says so" \
	[ "$rc $err" = "2 certfleet: no server 'nope' in '$G/fleet.cfg'" ]
err=$("$CERTFLEET" check "$G/fleet.cfg" --explain web01 colour 2>&1); rc=$?
check "check --explain of an unknown key exits 2" \
	[ "$rc" -eq 2 ] && grep -q "unknown key 'colour'" <<<"$err"
"$CERTFLEET" check "$G/fleet.cfg" --explain web01 >/dev/null 2>&1
check "check --explain without a KEY is a usage error" [ "$?" -eq 2 ]

# --- run: the mail group waits for approval; each template is used --------
out=$("$CERTFLEET" run --json "$G/fleet.cfg"); rc=$?
check "run: the mail group's servers pending, the web servers assigned" \
	[ "$(jq -r '[.servers[].status] | join(",")' <<<"$out") $rc" = \
	  "assigned,assigned,pending,pending 0" ]
check "the pending ones wait for approval" \
	[ "$(jq -r '.servers[2].ca_status' <<<"$out")" = "pending approval" ]
"$CERTFLEET" approve "$G/fleet.cfg" mx01 >/dev/null
out=$("$CERTFLEET" run --json "$G/fleet.cfg")
check "approve mx01: it is collected, mx02 still waits" \
	[ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = \
	  "up_to_date,up_to_date,assigned,pending" ]
"$CERTFLEET" approve --all "$G/fleet.cfg" >/dev/null
"$CERTFLEET" run "$G/fleet.cfg" >/dev/null

# subject and SANs as openssl reads them from each server's certificate.
names() {
	openssl x509 -in "$G/servers/$1/certs/default.pem" -noout -subject \
	    -ext subjectAltName -nameopt compat 2>/dev/null |
	    sed -n 's/^subject=//p; s/^ *DNS:/DNS:/p' | paste -sd' '
}
check "web01: the web template with its group's zone" \
	[ "$(names web01)" = "/O=Web/CN=web01.edge.contoso.test DNS:web01.edge.contoso.test, DNS:www.edge.contoso.test" ]
check "web02: the web template with its own zone" \
	[ "$(names web02)" = "/O=Web/CN=web02.contoso.test DNS:web02.contoso.test, DNS:www.contoso.test" ]
check "mx01: the mail template" \
	[ "$(names mx01)" = "/O=Mail/CN=smtp.contoso.test DNS:mx01.contoso.test, DNS:smtp.contoso.test" ]
check "mx02: mail template (its last group), edge's zone, approved" \
	[ "$(names mx02)" = "/O=Mail/CN=smtp.edge.contoso.test DNS:mx02.edge.contoso.test, DNS:smtp.edge.contoso.test" ]
days=$(openssl x509 -in "$G/servers/mx01/certs/default.pem" -noout \
    -startdate -enddate | sed 's/^[a-zA-Z]*=//' | { read -r a; read -r b
    echo $(( ($(date -d "$b" +%s) - $(date -d "$a" +%s)) / 86400 )); })
check "mx01's certificate lasts the mail template's 60 days" [ "$days" -eq 60 ]
