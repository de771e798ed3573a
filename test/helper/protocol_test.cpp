// The helper protocol's codecs and validators, and the helper's peer and
// option checks: pure logic, no root.

#include <gtest/gtest.h>

#include "helper/auth.hpp"
#include "helper/options.hpp"
#include "messages/helper.hpp"

namespace banger {
namespace {

using wire::decode_error;
using wire::json;

template <class T> T round_trip(const T& x) {
  return decode<T>(json::parse(to_json(x).dump()));
}

TEST(HelperProtocol, RequestsRoundTrip) {
  auto b = round_trip(helper_ensure_bridge{"banger0", "172.16.0.1/24"});
  EXPECT_EQ(b.name, "banger0");
  EXPECT_EQ(b.cidr, "172.16.0.1/24");
  auto t = round_trip(helper_create_tap{"bgtap7", 1000, "banger0"});
  EXPECT_EQ(t.name, "bgtap7");
  EXPECT_EQ(t.owner_uid, 1000u);
  EXPECT_EQ(t.bridge, "banger0");
  EXPECT_EQ(round_trip(helper_delete_tap{"bgtap7"}).name, "bgtap7");
  auto n = round_trip(helper_add_nat{"172.16.0.5", "banger0"});
  EXPECT_EQ(n.guest_ip, "172.16.0.5");
  EXPECT_EQ(n.bridge, "banger0");
  EXPECT_EQ(round_trip(helper_remove_nat{"172.16.0.5"}).guest_ip, "172.16.0.5");
  EXPECT_EQ(to_json(helper_list_request{}), json::object());
}

TEST(HelperProtocol, RepliesRoundTrip) {
  EXPECT_TRUE(
      round_trip(helper_ensure_bridge_reply{"b", "10.0.0.1/24", true}).created);
  auto t = round_trip(helper_create_tap_reply{"bgtap1", 7, "b", true});
  EXPECT_EQ(t.owner_uid, 7u);
  EXPECT_TRUE(t.created);
  EXPECT_TRUE(round_trip(helper_delete_tap_reply{"bgtap1", true}).deleted);
  EXPECT_FALSE(round_trip(helper_add_nat_reply{"10.0.0.5", "b", false}).added);
  EXPECT_EQ(round_trip(helper_remove_nat_reply{"10.0.0.5", 1}).removed, 1u);
  helper_list_reply list;
  list.bridges.push_back({"b", {"10.0.0.1/24"}, true});
  list.taps.push_back({"bgtap1", 7, "b", false, {}, {}});
  list.nat.push_back({"10.0.0.5", "b"});
  auto back = round_trip(list);
  ASSERT_EQ(back.bridges.size(), 1u);
  EXPECT_EQ(back.bridges[0].addresses, std::vector<std::string>{"10.0.0.1/24"});
  ASSERT_EQ(back.taps.size(), 1u);
  EXPECT_EQ(back.taps[0].owner_uid, 7u);
  ASSERT_EQ(back.nat.size(), 1u);
  EXPECT_EQ(back.nat[0].guest_ip, "10.0.0.5");
}

TEST(HelperProtocol, DecodingIsStrict) {
  // unknown field
  EXPECT_THROW(decode<helper_delete_tap>(json{{"name", "bgtap1"}, {"x", 1}}),
               decode_error);
  // missing field
  EXPECT_THROW(
      decode<helper_create_tap>(json{{"name", "bgtap1"}, {"bridge", "b"}}),
      decode_error);
  // wrong types
  EXPECT_THROW(decode<helper_create_tap>(json{
                   {"name", "bgtap1"}, {"owner_uid", "1000"}, {"bridge", "b"}}),
               decode_error);
  EXPECT_THROW(decode<helper_create_tap>(json{
                   {"name", "bgtap1"}, {"owner_uid", -1}, {"bridge", "b"}}),
               decode_error);
  EXPECT_THROW(decode<helper_add_nat>(json{{"guest_ip", 5}, {"bridge", "b"}}),
               decode_error);
  EXPECT_THROW(decode<helper_list_request>(json{{"all", true}}), decode_error);
  EXPECT_THROW(decode<helper_list_reply>(json{{"bridges", json::object()},
                                              {"taps", json::array()},
                                              {"nat", json::array()}}),
               decode_error);
  try {
    decode<helper_delete_tap>(json{{"name", "bgtap1"}, {"force", true}});
  } catch (const decode_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown field 'force'"),
              std::string::npos)
        << e.what();
  }
}

TEST(HelperProtocol, DescriptorOpsRoundTripAndAreStrict) {
  EXPECT_EQ(round_trip(helper_open_tap{"bgtap3"}).name, "bgtap3");
  EXPECT_EQ(round_trip(helper_open_tap_reply{"bgtap3"}).name, "bgtap3");
  auto d = round_trip(helper_bind_dns{"172.16.0.1", 53});
  EXPECT_EQ(d.address, "172.16.0.1");
  EXPECT_EQ(d.port, 53);
  EXPECT_EQ(to_json(helper_bind_dns{"172.16.0.1", 53}),
            (json{{"address", "172.16.0.1"}, {"port", 53}}));
  auto r = round_trip(helper_bind_dns_reply{"172.16.0.1", 65535});
  EXPECT_EQ(r.address, "172.16.0.1");
  EXPECT_EQ(r.port, 65535);
  EXPECT_EQ(decode<helper_bind_dns>(json{{"address", "a"}, {"port", 0}}).port,
            0); // a port, if not one to listen on: the helper refuses it
  for (const json& bad :
       {json{{"address", "172.16.0.1"}, {"port", 65536}},
        json{{"address", "172.16.0.1"}, {"port", -1}},
        json{{"address", "172.16.0.1"}, {"port", "53"}},
        json{{"address", "172.16.0.1"}, {"port", 53.5}},
        json{{"address", "172.16.0.1"}},
        json{{"address", "172.16.0.1"}, {"port", 53}, {"reuse", true}}})
    EXPECT_THROW(decode<helper_bind_dns>(bad), decode_error) << bad.dump();
  try {
    decode<helper_bind_dns>(json{{"address", "x"}, {"port", 70000}});
  } catch (const decode_error& e) {
    EXPECT_NE(std::string(e.what()).find("70000 is not a port"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(decode<helper_open_tap>(json{{"name", "bgtap1"}, {"fd", 3}}),
               decode_error);
  EXPECT_THROW(decode<helper_open_tap>(json::object()), decode_error);
  EXPECT_THROW(decode<helper_bind_dns_reply>(json{{"address", "a"}}),
               decode_error);
}

TEST(HelperValidate, Ipv4IsParsedStrictly) {
  auto ip = parse_ipv4("172.16.0.5");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->value, 0xac100005u);
  EXPECT_EQ(to_string(*ip), "172.16.0.5");
  EXPECT_TRUE(parse_ipv4("0.0.0.0"));
  EXPECT_TRUE(parse_ipv4("255.255.255.255"));
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "01.2.3.4",
        " 1.2.3.4", "1.2.3.4 ", "1..2.3", "+1.2.3.4", "-1.2.3.4", "0x1.2.3.4",
        "1.2.3.4/", "1.2.3.4\n", "1.2.3.4;", "a.b.c.d", "1.2.3.1000",
        "1,2,3,4"})
    EXPECT_FALSE(parse_ipv4(bad)) << "'" << bad << "'";
  EXPECT_FALSE(parse_ipv4(std::string_view("1.2.3.4\0x", 9)));
}

TEST(HelperValidate, CidrIsParsedStrictly) {
  auto c = parse_ipv4_cidr("172.16.0.1/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 24);
  EXPECT_EQ(to_string(*c), "172.16.0.1/24");
  EXPECT_TRUE(c->contains(*parse_ipv4("172.16.0.200")));
  EXPECT_FALSE(c->contains(*parse_ipv4("172.16.1.2")));
  for (const char* bad : {"172.16.0.1", "172.16.0.1/", "172.16.0.1/33",
                          "172.16.0.1/024", "172.16.0.1/2a", "172.16.0.1/ 24",
                          "/24", "172.16.0.1/24/1", "172.16.0.1/-1"})
    EXPECT_FALSE(parse_ipv4_cidr(bad)) << bad;
}

TEST(HelperValidate, BridgeNames) {
  for (const char* ok : {"banger0", "b", "br-test", "abcdefghijklmno"})
    EXPECT_FALSE(check_bridge_name(ok)) << ok;
  for (const char* bad : {"", "0br", "Banger0", "br_0", "br.0", "br 0",
                          "abcdefghijklmnop", "-br", "br/0", "eth0;ls"})
    EXPECT_TRUE(check_bridge_name(bad)) << bad;
  auto why = check_bridge_name("Br0");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("'Br0'"), std::string::npos) << *why;
}

TEST(HelperValidate, TapNamesNeedThePrefix) {
  for (const char* ok : {"bgtap0", "bgtapz", "bgtap0123456789"})
    EXPECT_FALSE(check_tap_name(ok, "bgtap")) << ok;
  for (const char* bad : {"bgtap", "eth0", "tap0", "bgtap-1", "bgtapA",
                          "bgtap01234567890", "xbgtap0", "bgta0", "bgtap 1"})
    EXPECT_TRUE(check_tap_name(bad, "bgtap")) << bad;
  // A long prefix leaves fewer suffix characters: 15 in all.
  EXPECT_FALSE(check_tap_name("abcdefghijklm12", "abcdefghijklm"));
  EXPECT_TRUE(check_tap_name("abcdefghijklm123", "abcdefghijklm"));
  auto why = check_tap_name("eth0", "bgtap");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("'eth0'"), std::string::npos) << *why;
  EXPECT_NE(why->find("'bgtap'"), std::string::npos) << *why;
}

TEST(HelperValidate, TapPrefixes) {
  EXPECT_FALSE(check_tap_prefix("bgtap"));
  EXPECT_FALSE(check_tap_prefix("t"));
  for (const char* bad : {"", "0tap", "bg-tap", "BG", "abcdefghijklmno"})
    EXPECT_TRUE(check_tap_prefix(bad)) << bad;
}

TEST(HelperValidate, BridgeAddresses) {
  for (const char* ok : {"172.16.0.1/24", "10.0.0.254/8", "192.168.7.1/30"})
    EXPECT_FALSE(check_bridge_cidr(ok)) << ok;
  for (const char* bad :
       {"172.16.0.1", "172.16.0.0/24", "172.16.0.255/24", "172.16.0.1/31",
        "172.16.0.1/32", "172.16.0.1/7", "127.0.0.1/8", "0.1.2.3/8",
        "224.0.0.1/24", "172.16.0.1/24 "})
    EXPECT_TRUE(check_bridge_cidr(bad)) << bad;
}

TEST(HelperValidate, GuestAddresses) {
  EXPECT_FALSE(check_guest_ip("172.16.0.5"));
  for (const char* bad : {"172.16.0.5/32", "127.0.0.1", "0.0.0.0", "224.1.1.1",
                          "255.255.255.255", "172.16.0", "x"})
    EXPECT_TRUE(check_guest_ip(bad)) << bad;
}

TEST(HelperAuth, OnlyTheOwnerAndRootPass) {
  EXPECT_FALSE(helper::check_peer({1000, 1000, 1}, 1000));
  EXPECT_FALSE(helper::check_peer({0, 0, 1}, 1000));
  auto why = helper::check_peer({1001, 1001, 1}, 1000);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rfind("peer uid 1001 is not the owner", 0), 0u) << *why;
}

TEST(HelperOptions, PathsAndPrefixAreChecked) {
  helper::options o;
  EXPECT_FALSE(helper::check(o));
  o.socket_path = "relative.sock";
  EXPECT_TRUE(helper::check(o));
  o.socket_path = "/run/banger/../x.sock";
  EXPECT_TRUE(helper::check(o));
  o = {};
  o.state_dir = "/var/lib/./banger";
  EXPECT_TRUE(helper::check(o));
  o = {};
  o.tap_prefix = "Bad";
  EXPECT_TRUE(helper::check(o));
}

} // namespace
} // namespace banger

namespace banger {
namespace {

TEST(HelperProtocol, BindTapRoundTripsAndListCarriesTheBinding) {
  auto b =
      round_trip(helper_bind_tap{"bgtap1", "172.16.0.5", "02:62:67:00:00:05"});
  EXPECT_EQ(b.name, "bgtap1");
  EXPECT_EQ(b.guest_ip, "172.16.0.5");
  EXPECT_EQ(b.mac, "02:62:67:00:00:05");
  EXPECT_TRUE(round_trip(helper_bind_tap_reply{"t", "ip", "m", true}).changed);
  EXPECT_THROW(decode<helper_bind_tap>(json{{"name", "bgtap1"}}),
               wire::decode_error);
  helper_tap bound{"bgtap1", 7, "b", true, "172.16.0.5", "02:62:67:00:00:05"};
  EXPECT_EQ(round_trip(bound).mac, "02:62:67:00:00:05");
  // An unbound TAP reads as before: no binding fields at all.
  EXPECT_FALSE(
      to_json(helper_tap{"bgtap2", 7, "b", true, {}, {}}).contains("guest_ip"));
}

TEST(HelperProtocol, MacsAreUnicastAndStrict) {
  EXPECT_FALSE(check_mac("02:62:67:00:00:05"));
  for (const char* bad :
       {"", "02:62:67:00:00", "02:62:67:00:00:05:06", "02-62-67-00-00-05",
        "02:62:67:00:00:0G", "02:62:67:00:00:0A", "01:00:5e:00:00:01",
        "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:62:67:00:00:05\" drop"})
    EXPECT_TRUE(check_mac(bad)) << bad;
}

TEST(HelperProtocol, SubnetsAndOverlaps) {
  auto c = [](const char* s) { return *parse_ipv4_cidr(s); };
  EXPECT_TRUE(overlaps(c("192.168.1.0/24"), c("192.168.1.128/25")));
  EXPECT_TRUE(overlaps(c("192.168.1.128/25"), c("192.168.0.0/16")));
  EXPECT_TRUE(overlaps(c("10.0.0.5/32"), c("10.0.0.0/24")));
  EXPECT_FALSE(overlaps(c("10.0.0.0/24"), c("10.0.1.0/24")));
  EXPECT_FALSE(overlaps(c("172.16.0.0/24"), c("172.17.0.0/16")));
  auto br = parse_subnet("172.16.0.0/24");
  ASSERT_TRUE(br);
  EXPECT_EQ(to_string(*br), "172.16.0.1/24");
  std::string why;
  for (const char* bad : {"172.16.0.1/24", "172.16.0.0/30", "172.16.0.0/4",
                          "127.0.0.0/8", "x", "172.16.0.0"}) {
    why.clear();
    EXPECT_FALSE(parse_subnet(bad, &why)) << bad;
    EXPECT_NE(why.find(std::string("'") + bad + "'"), std::string::npos) << why;
  }
}

TEST(HelperOptions, BridgeSubnetAndCapsAreChecked) {
  helper::options o;
  EXPECT_FALSE(helper::check(o));
  EXPECT_EQ(to_string(o.bridge_cidr), "172.16.0.1/24");
  o.subnet = "192.168.1.129/25";
  EXPECT_TRUE(helper::check(o));
  o = {};
  o.bridge = "bgtap0"; // inside the TAP prefix
  EXPECT_TRUE(helper::check(o));
  o = {};
  o.max_taps = 0;
  EXPECT_TRUE(helper::check(o));
  o = {};
  o.max_clients = 0;
  EXPECT_TRUE(helper::check(o));
}

} // namespace
} // namespace banger
