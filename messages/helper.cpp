#include "messages/helper.hpp"

#include <algorithm>
#include <charconv>

namespace banger {

using wire::json;
using wire::object_reader;

namespace {

template <class T> json array_of(const std::vector<T>& xs) {
  json arr = json::array();
  for (auto& x : xs)
    arr.push_back(to_json(x));
  return arr;
}

template <class T>
void read_array(object_reader& r, const char* key, std::vector<T>& out) {
  json arr;
  r.required(key, arr);
  if (!arr.is_array())
    r.fail(std::string("field '") + key + "' must be an array");
  for (auto& e : arr)
    out.push_back(decode<T>(e));
}

/// A port: an integer 0..65535 (whether 0 is allowed is the op's rule).
void read_port(object_reader& r, std::uint16_t& out) {
  std::uint64_t port = 0;
  r.required("port", port);
  if (port > 65535)
    r.fail("field 'port': " + std::to_string(port)
           + " is not a port (0-65535)");
  out = static_cast<std::uint16_t>(port);
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

} // namespace

// -- codecs
// ------------------------------------------------------------------------

json to_json(const helper_ensure_bridge& x) {
  return {{"name", x.name}, {"cidr", x.cidr}};
}

void from_json(const json& j, helper_ensure_bridge& x) {
  object_reader r(j, "helper.ensure_bridge");
  r.required("name", x.name);
  r.required("cidr", x.cidr);
  r.finish();
}

json to_json(const helper_ensure_bridge_reply& x) {
  return {{"name", x.name}, {"cidr", x.cidr}, {"created", x.created}};
}

void from_json(const json& j, helper_ensure_bridge_reply& x) {
  object_reader r(j, "helper.ensure_bridge reply");
  r.required("name", x.name);
  r.required("cidr", x.cidr);
  r.required("created", x.created);
  r.finish();
}

json to_json(const helper_create_tap& x) {
  return {{"name", x.name}, {"owner_uid", x.owner_uid}, {"bridge", x.bridge}};
}

void from_json(const json& j, helper_create_tap& x) {
  object_reader r(j, "helper.create_tap");
  r.required("name", x.name);
  r.required("owner_uid", x.owner_uid);
  r.required("bridge", x.bridge);
  r.finish();
}

json to_json(const helper_create_tap_reply& x) {
  return {{"name", x.name},
          {"owner_uid", x.owner_uid},
          {"bridge", x.bridge},
          {"created", x.created}};
}

void from_json(const json& j, helper_create_tap_reply& x) {
  object_reader r(j, "helper.create_tap reply");
  r.required("name", x.name);
  r.required("owner_uid", x.owner_uid);
  r.required("bridge", x.bridge);
  r.required("created", x.created);
  r.finish();
}

json to_json(const helper_delete_tap& x) {
  return {{"name", x.name}};
}

void from_json(const json& j, helper_delete_tap& x) {
  object_reader r(j, "helper.delete_tap");
  r.required("name", x.name);
  r.finish();
}

json to_json(const helper_delete_tap_reply& x) {
  return {{"name", x.name}, {"deleted", x.deleted}};
}

void from_json(const json& j, helper_delete_tap_reply& x) {
  object_reader r(j, "helper.delete_tap reply");
  r.required("name", x.name);
  r.required("deleted", x.deleted);
  r.finish();
}

json to_json(const helper_add_nat& x) {
  return {{"guest_ip", x.guest_ip}, {"bridge", x.bridge}};
}

void from_json(const json& j, helper_add_nat& x) {
  object_reader r(j, "helper.add_nat");
  r.required("guest_ip", x.guest_ip);
  r.required("bridge", x.bridge);
  r.finish();
}

json to_json(const helper_add_nat_reply& x) {
  return {{"guest_ip", x.guest_ip}, {"bridge", x.bridge}, {"added", x.added}};
}

void from_json(const json& j, helper_add_nat_reply& x) {
  object_reader r(j, "helper.add_nat reply");
  r.required("guest_ip", x.guest_ip);
  r.required("bridge", x.bridge);
  r.required("added", x.added);
  r.finish();
}

json to_json(const helper_remove_nat& x) {
  return {{"guest_ip", x.guest_ip}};
}

void from_json(const json& j, helper_remove_nat& x) {
  object_reader r(j, "helper.remove_nat");
  r.required("guest_ip", x.guest_ip);
  r.finish();
}

json to_json(const helper_remove_nat_reply& x) {
  return {{"guest_ip", x.guest_ip}, {"removed", x.removed}};
}

void from_json(const json& j, helper_remove_nat_reply& x) {
  object_reader r(j, "helper.remove_nat reply");
  r.required("guest_ip", x.guest_ip);
  r.required("removed", x.removed);
  r.finish();
}

json to_json(const helper_open_tap& x) {
  return {{"name", x.name}};
}

void from_json(const json& j, helper_open_tap& x) {
  object_reader r(j, "helper.open_tap");
  r.required("name", x.name);
  r.finish();
}

json to_json(const helper_open_tap_reply& x) {
  return {{"name", x.name}};
}

void from_json(const json& j, helper_open_tap_reply& x) {
  object_reader r(j, "helper.open_tap reply");
  r.required("name", x.name);
  r.finish();
}

json to_json(const helper_bind_dns& x) {
  return {{"address", x.address}, {"port", x.port}};
}

void from_json(const json& j, helper_bind_dns& x) {
  object_reader r(j, "helper.bind_dns");
  r.required("address", x.address);
  read_port(r, x.port);
  r.finish();
}

json to_json(const helper_bind_dns_reply& x) {
  return {{"address", x.address}, {"port", x.port}};
}

void from_json(const json& j, helper_bind_dns_reply& x) {
  object_reader r(j, "helper.bind_dns reply");
  r.required("address", x.address);
  read_port(r, x.port);
  r.finish();
}

json to_json(const helper_bind_tap& x) {
  return {{"name", x.name}, {"guest_ip", x.guest_ip}, {"mac", x.mac}};
}

void from_json(const json& j, helper_bind_tap& x) {
  object_reader r(j, "helper.bind_tap");
  r.required("name", x.name);
  r.required("guest_ip", x.guest_ip);
  r.required("mac", x.mac);
  r.finish();
}

json to_json(const helper_bind_tap_reply& x) {
  return {{"name", x.name},
          {"guest_ip", x.guest_ip},
          {"mac", x.mac},
          {"changed", x.changed}};
}

void from_json(const json& j, helper_bind_tap_reply& x) {
  object_reader r(j, "helper.bind_tap reply");
  r.required("name", x.name);
  r.required("guest_ip", x.guest_ip);
  r.required("mac", x.mac);
  r.required("changed", x.changed);
  r.finish();
}

json to_json(const helper_list_request&) {
  return json::object();
}

void from_json(const json& j, helper_list_request&) {
  object_reader r(j, "helper.list");
  r.finish();
}

json to_json(const helper_bridge& x) {
  return {{"name", x.name}, {"addresses", x.addresses}, {"up", x.up}};
}

void from_json(const json& j, helper_bridge& x) {
  object_reader r(j, "helper bridge");
  r.required("name", x.name);
  r.required("addresses", x.addresses);
  r.required("up", x.up);
  r.finish();
}

json to_json(const helper_tap& x) {
  json j = {{"name", x.name},
            {"owner_uid", x.owner_uid},
            {"bridge", x.bridge},
            {"up", x.up}};
  // Only when bound: an older daemon reads the unbound TAPs unchanged.
  if (!x.guest_ip.empty()) {
    j["guest_ip"] = x.guest_ip;
    j["mac"] = x.mac;
  }
  return j;
}

void from_json(const json& j, helper_tap& x) {
  object_reader r(j, "helper tap");
  r.required("name", x.name);
  r.required("owner_uid", x.owner_uid);
  r.required("bridge", x.bridge);
  r.required("up", x.up);
  r.optional("guest_ip", x.guest_ip);
  r.optional("mac", x.mac);
  r.finish();
}

json to_json(const helper_nat_rule& x) {
  return {{"guest_ip", x.guest_ip}, {"bridge", x.bridge}};
}

void from_json(const json& j, helper_nat_rule& x) {
  object_reader r(j, "helper nat rule");
  r.required("guest_ip", x.guest_ip);
  r.required("bridge", x.bridge);
  r.finish();
}

json to_json(const helper_list_reply& x) {
  return {{"bridges", array_of(x.bridges)},
          {"taps", array_of(x.taps)},
          {"nat", array_of(x.nat)}};
}

void from_json(const json& j, helper_list_reply& x) {
  object_reader r(j, "helper.list reply");
  read_array(r, "bridges", x.bridges);
  read_array(r, "taps", x.taps);
  read_array(r, "nat", x.nat);
  r.finish();
}

// -- addresses
// -----------------------------------------------------------------------

std::optional<ipv4> parse_ipv4(std::string_view text) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (text.empty() || text.front() != '.')
        return std::nullopt;
      text.remove_prefix(1);
    }
    std::size_t n = 0;
    while (n < text.size() && n < 4 && text[n] >= '0' && text[n] <= '9')
      ++n;
    if (n == 0 || n > 3 || (n > 1 && text[0] == '0'))
      return std::nullopt;
    unsigned octet = 0;
    std::from_chars(text.data(), text.data() + n, octet);
    if (octet > 255)
      return std::nullopt;
    value = (value << 8) | octet;
    text.remove_prefix(n);
  }
  if (!text.empty())
    return std::nullopt;
  return ipv4{value};
}

std::optional<ipv4_cidr> parse_ipv4_cidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto addr = parse_ipv4(text.substr(0, slash));
  auto len = text.substr(slash + 1);
  if (!addr || len.empty() || len.size() > 2
      || (len.size() > 1 && len[0] == '0'))
    return std::nullopt;
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (ec != std::errc{} || end != len.data() + len.size() || prefix > 32)
    return std::nullopt;
  return ipv4_cidr{*addr, static_cast<std::uint8_t>(prefix)};
}

std::string to_string(ipv4 ip) {
  auto v = ip.value;
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 0xff) + "."
         + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
}

std::string to_string(const ipv4_cidr& cidr) {
  return to_string(cidr.addr) + "/" + std::to_string(cidr.prefix);
}

// -- names
// -------------------------------------------------------------------------------

std::optional<std::string> check_bridge_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= max_ifname && name[0] >= 'a'
            && name[0] <= 'z';
  for (char c : name)
    ok = ok && (is_lower_alnum(c) || c == '-');
  if (ok)
    return std::nullopt;
  return "bridge name " + quoted(name)
         + " is invalid: use 1 to 15 characters, a lowercase letter first, "
           "then lowercase letters, digits or '-'";
}

std::optional<std::string> check_tap_prefix(std::string_view prefix) {
  bool ok = !prefix.empty() && prefix.size() <= max_ifname - 1
            && prefix[0] >= 'a' && prefix[0] <= 'z';
  for (char c : prefix)
    ok = ok && is_lower_alnum(c);
  if (ok)
    return std::nullopt;
  return "TAP prefix " + quoted(prefix)
         + " is invalid: use 1 to 14 characters, a lowercase letter first, "
           "then lowercase letters or digits";
}

std::optional<std::string> check_tap_name(std::string_view name,
                                          std::string_view prefix) {
  auto suffix_max = std::min<std::size_t>(10, max_ifname - prefix.size());
  bool ok = name.size() > prefix.size() && name.size() <= max_ifname
            && name.substr(0, prefix.size()) == prefix
            && name.size() - prefix.size() <= suffix_max;
  if (ok)
    for (char c : name.substr(prefix.size()))
      ok = ok && is_lower_alnum(c);
  if (ok)
    return std::nullopt;
  return "TAP name " + quoted(name) + " is outside banger's TAP names: use "
         + quoted(prefix) + " followed by 1 to " + std::to_string(suffix_max)
         + " lowercase letters or digits (at most 15 characters in all)";
}

std::optional<std::string> check_bridge_cidr(std::string_view text) {
  auto cidr = parse_ipv4_cidr(text);
  if (!cidr)
    return "bridge address " + quoted(text)
           + " is not an IPv4 address with a prefix length, like "
             "'172.16.0.1/24'";
  if (cidr->prefix < 8 || cidr->prefix > 30)
    return "bridge address " + quoted(text) + " has prefix length /"
           + std::to_string(cidr->prefix)
           + ": use /8 to /30 so that guests fit beside the bridge";
  auto host = cidr->addr.value & ~cidr->mask();
  if (host == 0 || host == ~cidr->mask())
    return "bridge address " + quoted(text)
           + " is the network or broadcast address of its subnet: use a host "
             "address, like '172.16.0.1/24'";
  if (auto why = check_guest_ip(to_string(cidr->addr)))
    return "bridge address " + quoted(text)
           + " is not a unicast host address (0/8, 127/8, 224/4 and above "
             "are reserved)";
  return std::nullopt;
}

std::optional<std::string> check_guest_ip(std::string_view text) {
  auto ip = parse_ipv4(text);
  if (!ip)
    return "guest address " + quoted(text)
           + " is not an IPv4 address: use four decimal numbers 0-255 "
             "separated by dots, like '172.16.0.5'";
  auto first = ip->value >> 24;
  if (first == 0 || first == 127 || first >= 224)
    return "guest address " + quoted(text)
           + " is not a unicast host address (0/8, 127/8, 224/4 and above "
             "are reserved)";
  return std::nullopt;
}

std::optional<std::string> check_mac(std::string_view mac) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  };
  bool ok = mac.size() == 17;
  for (std::size_t i = 0; ok && i < mac.size(); ++i)
    ok = i % 3 == 2 ? mac[i] == ':' : hex(mac[i]);
  if (!ok)
    return "MAC address " + quoted(mac)
           + " is not six lowercase hex pairs separated by ':', like "
             "'02:62:67:00:00:05'";
  auto first = std::stoul(std::string(mac.substr(0, 2)), nullptr, 16);
  if ((first & 1) != 0)
    return "MAC address " + quoted(mac)
           + " is a multicast address: a guest NIC needs a unicast one "
             "(the lowest bit of the first byte clear)";
  if (mac == "00:00:00:00:00:00")
    return "MAC address " + quoted(mac) + " is all zero: use a real one";
  return std::nullopt;
}

bool overlaps(const ipv4_cidr& a, const ipv4_cidr& b) {
  // Two prefixes overlap exactly when the shorter one contains the other.
  const auto& wide = a.prefix <= b.prefix ? a : b;
  const auto& narrow = a.prefix <= b.prefix ? b : a;
  return wide.contains(narrow.addr);
}

std::optional<ipv4_cidr> parse_subnet(std::string_view text, std::string* why) {
  auto fail = [&](std::string s) -> std::optional<ipv4_cidr> {
    if (why)
      *why = std::move(s);
    return std::nullopt;
  };
  auto net = parse_ipv4_cidr(text);
  if (!net)
    return fail("subnet " + quoted(text)
                + " is not an IPv4 network like '172.16.0.0/24'");
  if (net->prefix < 8 || net->prefix > 29)
    return fail("subnet " + quoted(text)
                + " must have a prefix from /8 to /29 (room for the bridge "
                  "and guests)");
  if ((net->addr.value & net->mask()) != net->addr.value)
    return fail("subnet " + quoted(text) + " has host bits set: use "
                + to_string(ipv4{net->addr.value & net->mask()}) + "/"
                + std::to_string(net->prefix));
  ipv4_cidr bridge{ipv4{net->addr.value + 1}, net->prefix};
  if (auto bad = check_bridge_cidr(to_string(bridge)))
    return fail("subnet " + quoted(text) + ": " + *bad);
  return bridge;
}

} // namespace banger
