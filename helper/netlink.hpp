#pragma once
// Links and addresses over rtnetlink (libnl-route-3): the only way the helper
// reads or changes interfaces. Works in the network namespace of the calling
// thread, never through /sys (which shows the namespace it was mounted in).
// Failures throw op_error with code "internal" and the kernel's reason.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "messages/helper.hpp"

struct nl_sock;
struct rtnl_link;

namespace banger::helper {

struct link_info {
  int index = 0;
  std::string name;
  std::string kind;  // "bridge", "tun", ... (empty for plain devices)
  std::string alias; // IFLA_IFALIAS
  int master = 0;    // ifindex of the bridge it is enslaved to, 0 if none
  bool up = false;
};

/// What the kernel says about a tun/tap device (IFLA_INFO_DATA of "tun").
struct tun_info {
  std::optional<std::uint32_t> owner; // absent: no owner set
  bool tap = false;
  bool persist = false;
};

/// One IPv4 route of any table: its destination and output interface.
struct route_info {
  ipv4_cidr dst; // 0.0.0.0/0 for a default route
  int oif = 0;   // 0 when it has no single output interface
  std::uint32_t table = 0;
};

/// One IPv4 address of any link.
struct addr_info {
  int ifindex = 0;
  ipv4_cidr cidr;
};

class netlink {
public:
  netlink();
  ~netlink();
  netlink(const netlink&) = delete;
  netlink& operator=(const netlink&) = delete;

  std::optional<link_info> find(const std::string& name);
  std::vector<link_info> links();
  std::vector<ipv4_cidr> addresses(int ifindex);
  /// Every IPv4 address of every link.
  std::vector<addr_info> all_addresses();
  /// Every IPv4 route of every table (main, local, policy tables).
  std::vector<route_info> routes();
  std::optional<tun_info> tun(int ifindex);

  /// Creates a bridge (fails if the name exists).
  void create_bridge(const std::string& name);
  void set_alias(int ifindex, const std::string& alias);
  void set_master(int ifindex, int master);
  void set_up(int ifindex);
  void add_address(int ifindex, const ipv4_cidr& cidr);
  void delete_link(int ifindex);

private:
  void change(int ifindex, const char* what,
              void (*edit)(rtnl_link*, const void*), const void* arg);
  nl_sock* sock_;
};

} // namespace banger::helper
