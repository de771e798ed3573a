#pragma once
// The guest's network, from banger.ip / banger.gw / banger.dns / banger.mac
// (see cmdline.hpp): the kernel's own ip= needs IP_PNP, which Debian's kernel
// lacks, so banger-init sets the address itself. Runs after virtio_net has
// loaded and before the image's init, with the ioctls ifconfig/route use
// (banger-init is static: no libnl). Also writes /etc/resolv.conf and the
// hostname's line in /etc/hosts. Nothing here is fatal: a VM without network
// still has its agent.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/init/cmdline.hpp"

namespace banger::init {

/// An IPv4 address in network byte order and its prefix length.
struct ipv4_cidr {
  std::uint32_t address = 0;
  int prefix = 0;
};

/// A dotted quad, strictly (no "1.2.3", no leading/trailing junk).
std::optional<std::uint32_t> parse_ipv4(std::string_view text);

/// "172.16.0.5/24" (prefix 0..32; "/32" required to be explicit: a bare
/// address is refused so that a typo cannot silently become a /32).
std::optional<ipv4_cidr> parse_cidr(std::string_view text);

/// The netmask of a prefix, network byte order.
std::uint32_t prefix_netmask(int prefix);

/// Dotted quad of a network-order address.
std::string format_ipv4(std::uint32_t address);

/// "52:54:00:AB:cd:01" -> "52:54:00:ab:cd:01"; nullopt unless six
/// colon-separated hex pairs.
std::optional<std::string> normalize_mac(std::string_view text);

/// What the command line asks for, checked. `problems` collects what was
/// wrong (each a console line); a bad gw or dns entry is dropped, a bad ip
/// or mac leaves the network unconfigured (nullopt).
struct net_plan {
  ipv4_cidr ip;
  std::optional<std::uint32_t> gw;
  std::vector<std::string> dns; // IPv4 or IPv6 literals
  std::string mac;              // normalized; empty: first ethernet NIC
};
std::optional<net_plan> plan_network(const boot_params& p,
                                     std::vector<std::string>& problems);

/// One entry of /sys/class/net.
struct interface_info {
  std::string name;
  std::string mac; // as the kernel prints it (lower case)
  int type = 0;    // ARPHRD_*; 1 is ethernet
  int ifindex = 0;
};

/// The interface to configure: the one with `mac` if given, else the
/// ethernet interface other than lo with the lowest ifindex. Pure.
std::optional<interface_info>
pick_interface(const std::vector<interface_info>& interfaces,
               const std::string& mac);

/// /etc/resolv.conf for these servers, with "search vm".
std::string resolv_conf_text(const std::vector<std::string>& dns);

/// `hosts` with one line "<ip> <hostname>": it replaces, in place, every
/// line that maps `ip` or names `hostname` on a non-loopback address (a
/// Debian-style "127.0.1.1 box" line included); 127.0.0.1 and ::1 lines and
/// everything else keep their bytes. Idempotent. Pure.
std::string hosts_with(std::string_view hosts, const std::string& ip,
                       const std::string& hostname);

/// Brings lo up (configure_network does it too, when it has a plan).
void bring_up_loopback();

/// Reads /sys/class/net (under `sysfs`).
std::vector<interface_info> list_interfaces(const std::string& sysfs = "/sys");

/// Does it all and logs each step to the console. No banger.ip: nothing.
void configure_network(const boot_params& p);

} // namespace banger::init
