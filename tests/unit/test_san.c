/* Host names, IPs, SANs and DNs: the syntax every later layer relies on. */
#include "tests/unit/unit.h"
#include "engine/base/dn.h"
#include "engine/base/err.h"
#include "engine/base/san.h"

#include <string.h>

static void test_host_names(void **state)
{
	(void)state;
	assert_true(host_is_valid("fe01.pool.contoso.test", false));
	assert_true(host_is_valid("a", false));
	assert_true(host_is_valid("xn--bcher-kva.example", false));
	assert_true(host_is_valid("*.contoso.test", true));
	assert_false(host_is_valid("*.contoso.test", false));
	assert_false(host_is_valid("", false));
	assert_false(host_is_valid("-a.test", false));
	assert_false(host_is_valid("a-.test", false));
	assert_false(host_is_valid("a..test", false));
	assert_false(host_is_valid("a.test.", false));
	assert_false(host_is_valid("a_b.test", false));
	assert_false(host_is_valid("a;b", false));
	assert_false(host_is_valid("$(id)", false));
	assert_false(host_is_valid("a b", false));
	assert_false(host_is_valid("a.*.test", true));
}

static void test_ips(void **state)
{
	unsigned char ip[16];
	size_t n = 0;

	(void)state;
	assert_true(ip_parse("10.0.0.1", ip, &n));
	assert_int_equal(n, 4);
	assert_int_equal(ip[0], 10);
	assert_true(ip_parse("::1", ip, &n));
	assert_int_equal(n, 16);
	assert_false(ip_parse("10.0.0", NULL, NULL));
	assert_false(ip_parse("10.0.0.256", NULL, NULL));
}

static void test_sans(void **state)
{
	struct san s;
	char msg[256];

	(void)state;
	assert_int_equal(san_parse("DNS:fe01.contoso.test", &s, msg, sizeof msg), 0);
	assert_int_equal(s.type, SAN_DNS);
	assert_string_equal(s.value, "fe01.contoso.test");
	assert_int_equal(san_parse("IP:10.0.0.1", &s, msg, sizeof msg), 0);
	assert_int_equal(s.type, SAN_IP);
	assert_int_equal(s.iplen, 4);
	assert_int_equal(san_parse("email:ops@contoso.test", &s, msg, sizeof msg), 0);
	assert_int_equal(san_parse("URI:spiffe://contoso.test/fe01", &s, msg, sizeof msg), 0);
	assert_int_equal(san_parse("fe01.contoso.test", &s, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed SAN 'fe01.contoso.test': expected DNS:, IP:, email: or URI:");
	assert_int_equal(san_parse("DNS:bad_name", &s, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed SAN 'DNS:bad_name': 'bad_name' is not a valid DNS name");
	assert_int_equal(san_parse("IP:10.0.0.999", &s, msg, sizeof msg), CF_EINVAL);
	assert_int_equal(san_parse("XYZ:a", &s, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed SAN 'XYZ:a': unknown type 'XYZ' (use DNS, IP, email or URI)");
}

static void test_domains(void **state)
{
	(void)state;
	assert_true(host_in_domain("contoso.test", "contoso.test"));
	assert_true(host_in_domain("a.b.CONTOSO.test", "contoso.test"));
	assert_false(host_in_domain("evilcontoso.test", "contoso.test"));
	assert_false(host_in_domain("test", "contoso.test"));
}

static void test_cidr(void **state)
{
	struct cidr c;
	unsigned char ip[16];
	size_t n;

	(void)state;
	assert_true(cidr_parse("10.0.0.0/8", &c));
	assert_true(ip_parse("10.200.1.1", ip, &n));
	assert_true(cidr_contains(&c, ip, n));
	assert_true(ip_parse("11.0.0.1", ip, &n));
	assert_false(cidr_contains(&c, ip, n));
	assert_true(cidr_parse("192.168.4.0/22", &c));
	assert_true(ip_parse("192.168.7.255", ip, &n));
	assert_true(cidr_contains(&c, ip, n));
	assert_true(ip_parse("192.168.8.0", ip, &n));
	assert_false(cidr_contains(&c, ip, n));
	assert_true(cidr_parse("fd00::/8", &c));
	assert_true(ip_parse("fd12::1", ip, &n));
	assert_true(cidr_contains(&c, ip, n));
	assert_true(cidr_parse("10.0.0.1", &c));
	assert_int_equal(c.prefix, 32);
	assert_false(cidr_parse("10.0.0.0/33", &c));
	assert_false(cidr_parse("10.0.0.0/", &c));
	assert_false(cidr_parse("10.0.0.0/-1", &c));
	assert_false(cidr_parse("nope/8", &c));
}

static void test_dn(void **state)
{
	struct dn dn;
	char msg[256];

	(void)state;
	assert_int_equal(dn_parse(&dn, "CN=fe01.contoso.test, O=Contoso\\, Ltd, C=NL", msg, sizeof msg), 0);
	assert_int_equal(dn.n, 3);
	assert_string_equal(dn_get(&dn, "CN"), "fe01.contoso.test");
	assert_string_equal(dn_get(&dn, "o"), "Contoso, Ltd");
	assert_string_equal(dn.rdn[2].key, "C");
	dn_release(&dn);
	assert_int_equal(dn_parse(&dn, "CN=a, XX=b", msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed subject 'CN=a, XX=b': unknown attribute 'XX' "
	    "(use CN, O, OU, C, ST, L, DC, emailAddress or serialNumber)");
	assert_int_equal(dn_parse(&dn, "CN=", msg, sizeof msg), CF_EINVAL);
	assert_int_equal(dn_parse(&dn, "CN=a, C=Netherlands", msg, sizeof msg), CF_EINVAL);
	assert_int_equal(dn_parse(&dn, "just text", msg, sizeof msg), CF_EINVAL);
	assert_int_equal(dn_parse(&dn, "CN=a=b", msg, sizeof msg), CF_EINVAL);
	assert_int_equal(dn_parse(&dn, "CN=a\nb", msg, sizeof msg), CF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_names),
		cmocka_unit_test(test_ips),
		cmocka_unit_test(test_sans),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_dn),
	};
	return cmocka_run_group_tests_name("san", tests, NULL, NULL);
}
