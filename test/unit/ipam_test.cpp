#include <gtest/gtest.h>

#include "services/ipam.hpp"

namespace banger {
namespace {

ipv4_cidr cidr(const char* text) {
  auto c = parse_ipv4_cidr(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(ipv4_cidr{});
}

TEST(Ipam, SkipsNetworkBridgeAndUsedAddresses) {
  auto bridge = cidr("172.16.0.1/24");
  auto first = allocate_ip(bridge, {});
  ASSERT_TRUE(first);
  EXPECT_EQ(to_string(*first), "172.16.0.2");
  auto next = allocate_ip(bridge, {"172.16.0.2", "172.16.0.3"});
  ASSERT_TRUE(next);
  EXPECT_EQ(to_string(*next), "172.16.0.4");
}

TEST(Ipam, ReusesAReleasedAddressFirst) {
  auto bridge = cidr("10.9.0.1/24");
  auto ip = allocate_ip(bridge, {"10.9.0.3", "10.9.0.4"});
  ASSERT_TRUE(ip);
  EXPECT_EQ(to_string(*ip), "10.9.0.2");
}

TEST(Ipam, BridgeInTheMiddleOfTheSubnet) {
  auto bridge = cidr("10.9.0.2/30"); // hosts .1 and .2; .2 is the bridge
  auto ip = allocate_ip(bridge, {});
  ASSERT_TRUE(ip);
  EXPECT_EQ(to_string(*ip), "10.9.0.1");
  EXPECT_FALSE(allocate_ip(bridge, {"10.9.0.1"}));
}

TEST(Ipam, FullSubnetHasNoAddressAndNeverTheBroadcast) {
  auto bridge = cidr("192.168.50.1/29"); // .1 bridge, .2-.6 guests, .7 bcast
  EXPECT_EQ(guest_capacity(bridge), 5u);
  std::set<std::string> used;
  for (int i = 0; i < 5; ++i) {
    auto ip = allocate_ip(bridge, used);
    ASSERT_TRUE(ip);
    EXPECT_NE(to_string(*ip), "192.168.50.7");
    EXPECT_NE(to_string(*ip), "192.168.50.0");
    EXPECT_TRUE(used.insert(to_string(*ip)).second) << "handed out twice";
  }
  EXPECT_FALSE(allocate_ip(bridge, used));
}

TEST(Ipam, MacIsLocallyAdministeredAndFollowsTheAddress) {
  auto ip = parse_ipv4("172.16.1.20");
  ASSERT_TRUE(ip);
  EXPECT_EQ(mac_for(*ip), "02:62:67:10:01:14");
  EXPECT_NE(mac_for(*ip), mac_for(*parse_ipv4("172.16.1.21")));
}

} // namespace
} // namespace banger
