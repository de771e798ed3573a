#pragma once
// The helper protocol (bangerd <-> banger-helper, the root process), spoken
// over the helper's Unix socket with the one framing of messages/wire.hpp.
// Every request is answered by one "result" frame (the reply below) or one
// "error" frame (error_body) with the request's id:
//
//   "helper.ensure_bridge" helper_ensure_bridge -> helper_ensure_bridge_reply
//   "helper.create_tap"    helper_create_tap    -> helper_create_tap_reply
//   "helper.delete_tap"    helper_delete_tap    -> helper_delete_tap_reply
//   "helper.add_nat"       helper_add_nat       -> helper_add_nat_reply
//   "helper.remove_nat"    helper_remove_nat    -> helper_remove_nat_reply
//   "helper.list"          {}                   -> helper_list_reply
//   "helper.open_tap"      helper_open_tap      -> helper_open_tap_reply + fd
//   "helper.bind_dns"      helper_bind_dns      -> helper_bind_dns_reply + fd
//   "helper.bind_tap"      helper_bind_tap      -> helper_bind_tap_reply
//
// "+ fd": the result frame carries one file descriptor as SCM_RIGHTS on its
// first byte (wire::send_all / wire::recv_with_fds); the framing is
// otherwise unchanged. Error frames never carry one. These two exist because
// the daemon runs unprivileged: /dev/net/tun may be root-only, and port 53
// is privileged, so the helper opens them and hands them over.
//
// Every operation is idempotent: asking twice leaves the host as asking once
// (open_tap and bind_dns change nothing; each call gives a new descriptor).
// No CAF here: the helper runs as root and links as little as it can.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace banger {

namespace helper_msg {
inline constexpr const char* ensure_bridge = "helper.ensure_bridge";
inline constexpr const char* create_tap = "helper.create_tap";
inline constexpr const char* delete_tap = "helper.delete_tap";
inline constexpr const char* add_nat = "helper.add_nat";
inline constexpr const char* remove_nat = "helper.remove_nat";
inline constexpr const char* list = "helper.list";
inline constexpr const char* open_tap = "helper.open_tap";
inline constexpr const char* bind_dns = "helper.bind_dns";
inline constexpr const char* bind_tap = "helper.bind_tap";
inline constexpr const char* result = "result";
inline constexpr const char* error = "error";
} // namespace helper_msg

/// Error codes the helper sends; the same wire names as banger::ec
/// (services/error.hpp), so the daemon maps them with ec_from_string.
namespace helper_code {
/// A name or address breaks its rule, or owner_uid is not the owner.
inline constexpr const char* invalid_argument = "invalid_argument";
/// The named bridge (or, for open_tap, TAP) does not exist.
inline constexpr const char* not_found = "not_found";
/// The name is taken by a link banger-helper did not create (or, for
/// bind_dns, the address and port by a socket that does not share it).
inline constexpr const char* already_exists = "already_exists";
/// The link exists but is not banger's (or not what the op needs, e.g. a
/// TAP another process holds open).
inline constexpr const char* bad_state = "bad_state";
/// Bad frame, unknown type or field, or a peer that is not the owner.
inline constexpr const char* protocol = "protocol";
/// A cap of the helper is reached (TAPs, concurrent clients).
inline constexpr const char* unavailable = "unavailable";
/// The kernel refused (netlink, /dev/net/tun, nftables).
inline constexpr const char* internal = "internal";
} // namespace helper_code

/// Default prefix of TAP names; the helper's --tap-prefix overrides it.
inline constexpr std::string_view default_tap_prefix = "bgtap";
/// Linux interface names hold at most 15 characters (IFNAMSIZ - 1).
inline constexpr std::size_t max_ifname = 15;

// -- requests and replies
// ------------------------------------------------------

/// Creates the bridge if missing (address `cidr`, link up, marked as
/// banger's) and its guard rules; refuses an existing bridge banger-helper
/// did not create. `name` and `cidr` must be the helper's own settings
/// (--bridge, --subnet): the client only refers to them.
struct helper_ensure_bridge {
  std::string name; // "banger0"
  std::string cidr; // the bridge's own address: "172.16.0.1/24"
};

struct helper_ensure_bridge_reply {
  std::string name;
  std::string cidr;
  bool created = false; // false: it existed already (address ensured)
};

/// Creates a persistent TAP owned by owner_uid, enslaved to `bridge` (which
/// must be banger's), link up. owner_uid must be the helper's owner.
struct helper_create_tap {
  std::string name; // tap prefix + [0-9a-z]{1,10}
  std::uint32_t owner_uid = 0;
  std::string bridge;
};

struct helper_create_tap_reply {
  std::string name;
  std::uint32_t owner_uid = 0;
  std::string bridge;
  bool created = false; // false: it existed already (enslaved and up again)
};

/// Deletes a TAP banger-helper created. A missing TAP is not an error.
struct helper_delete_tap {
  std::string name;
};

struct helper_delete_tap_reply {
  std::string name;
  bool deleted = false; // false: there was no such TAP
};

/// One masquerade rule for guest_ip/32 leaving through any interface but
/// `bridge`, in table "ip banger". guest_ip must lie in the bridge's subnet.
struct helper_add_nat {
  std::string guest_ip; // "172.16.0.5"
  std::string bridge;
};

struct helper_add_nat_reply {
  std::string guest_ip;
  std::string bridge;
  bool added = false; // false: the rule was there already
};

/// Removes the masquerade rule(s) of guest_ip. None present is not an error.
struct helper_remove_nat {
  std::string guest_ip;
};

struct helper_remove_nat_reply {
  std::string guest_ip;
  std::uint32_t removed = 0; // rules removed (0 or 1 unless edited by hand)
};

/// Opens a queue of TAP `name` (which must exist and be banger's, owned by
/// the helper's owner) through /dev/net/tun, IFF_TAP | IFF_NO_PI as
/// create_tap made it, and passes the descriptor with the reply. The daemon
/// hands it to its VMM (QEMU `-netdev tap,fd=N`). The TAP takes one queue:
/// while a descriptor is open, another open_tap of it is refused (bad_state).
struct helper_open_tap {
  std::string name;
};

struct helper_open_tap_reply {
  std::string name;
};

/// A UDP socket (SO_REUSEADDR) bound to address:port, passed with the reply,
/// for the daemon's .vm DNS server. `address` must be an address of a bridge
/// banger-helper created, so no other host address can be bound; port
/// 1..65535.
struct helper_bind_dns {
  std::string address; // "172.16.0.1"
  std::uint16_t port = 53;
};

struct helper_bind_dns_reply {
  std::string address;
  std::uint16_t port = 0;
};

/// Binds TAP `name` (banger's, on the helper's bridge) to the one guest
/// that will use it: frames entering from it must carry `mac` as their
/// source and, for IPv4 and ARP, `guest_ip`; anything else (IPv6, VLANs,
/// other protocols) is dropped. Until bound, a TAP forwards nothing.
/// guest_ip must lie in the helper's subnet; neither it nor `mac` may be
/// bound to another TAP. Binding again replaces the binding.
struct helper_bind_tap {
  std::string name;
  std::string guest_ip; // "172.16.0.5"
  std::string mac;      // "02:62:67:00:00:05", unicast
};

struct helper_bind_tap_reply {
  std::string name;
  std::string guest_ip;
  std::string mac;
  bool changed = false; // false: exactly this binding was there already
};

struct helper_list_request {};

struct helper_bridge {
  std::string name;
  std::vector<std::string> addresses; // IPv4 CIDRs, "172.16.0.1/24"
  bool up = false;
};

struct helper_tap {
  std::string name;
  std::uint32_t owner_uid = 0;
  std::string bridge; // empty when not enslaved
  bool up = false;
  std::string guest_ip; // its binding (helper.bind_tap); empty if unbound
  std::string mac;
};

struct helper_nat_rule {
  std::string guest_ip;
  std::string bridge;
};

/// What the helper manages, for the daemon's reconciliation at start.
struct helper_list_reply {
  std::vector<helper_bridge> bridges;
  std::vector<helper_tap> taps;
  std::vector<helper_nat_rule> nat;
};

wire::json to_json(const helper_ensure_bridge& x);
void from_json(const wire::json& j, helper_ensure_bridge& x);
wire::json to_json(const helper_ensure_bridge_reply& x);
void from_json(const wire::json& j, helper_ensure_bridge_reply& x);
wire::json to_json(const helper_create_tap& x);
void from_json(const wire::json& j, helper_create_tap& x);
wire::json to_json(const helper_create_tap_reply& x);
void from_json(const wire::json& j, helper_create_tap_reply& x);
wire::json to_json(const helper_delete_tap& x);
void from_json(const wire::json& j, helper_delete_tap& x);
wire::json to_json(const helper_delete_tap_reply& x);
void from_json(const wire::json& j, helper_delete_tap_reply& x);
wire::json to_json(const helper_add_nat& x);
void from_json(const wire::json& j, helper_add_nat& x);
wire::json to_json(const helper_add_nat_reply& x);
void from_json(const wire::json& j, helper_add_nat_reply& x);
wire::json to_json(const helper_remove_nat& x);
void from_json(const wire::json& j, helper_remove_nat& x);
wire::json to_json(const helper_remove_nat_reply& x);
void from_json(const wire::json& j, helper_remove_nat_reply& x);
wire::json to_json(const helper_open_tap& x);
void from_json(const wire::json& j, helper_open_tap& x);
wire::json to_json(const helper_open_tap_reply& x);
void from_json(const wire::json& j, helper_open_tap_reply& x);
wire::json to_json(const helper_bind_dns& x);
void from_json(const wire::json& j, helper_bind_dns& x);
wire::json to_json(const helper_bind_dns_reply& x);
void from_json(const wire::json& j, helper_bind_dns_reply& x);
wire::json to_json(const helper_bind_tap& x);
void from_json(const wire::json& j, helper_bind_tap& x);
wire::json to_json(const helper_bind_tap_reply& x);
void from_json(const wire::json& j, helper_bind_tap_reply& x);
wire::json to_json(const helper_list_request& x);
void from_json(const wire::json& j, helper_list_request& x);
wire::json to_json(const helper_bridge& x);
void from_json(const wire::json& j, helper_bridge& x);
wire::json to_json(const helper_tap& x);
void from_json(const wire::json& j, helper_tap& x);
wire::json to_json(const helper_nat_rule& x);
void from_json(const wire::json& j, helper_nat_rule& x);
wire::json to_json(const helper_list_reply& x);
void from_json(const wire::json& j, helper_list_reply& x);

// -- validation
// ------------------------------------------------------------------ Each check
// returns nullopt when the input is valid, else a sentence naming the input and
// the rule it breaks. Both sides call them: the daemon to fail early, the
// helper because it trusts nothing.

/// An IPv4 address in host byte order.
struct ipv4 {
  std::uint32_t value = 0;
  friend bool operator==(ipv4, ipv4) = default;
};

/// An address with its prefix length: "172.16.0.1/24".
struct ipv4_cidr {
  ipv4 addr;
  std::uint8_t prefix = 0;

  std::uint32_t mask() const {
    return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  }
  bool contains(ipv4 ip) const {
    return (ip.value & mask()) == (addr.value & mask());
  }
};

/// Strict dotted quad: four decimal octets 0-255, no leading zeros, no
/// spaces, nothing else.
std::optional<ipv4> parse_ipv4(std::string_view text);
/// Strict "a.b.c.d/N" with N in 0..32.
std::optional<ipv4_cidr> parse_ipv4_cidr(std::string_view text);
std::string to_string(ipv4 ip);
std::string to_string(const ipv4_cidr& cidr);

/// Bridges: [a-z][a-z0-9-]{0,14}.
std::optional<std::string> check_bridge_name(std::string_view name);
/// TAP prefixes: [a-z][a-z0-9]{0,13}, so that a suffix still fits IFNAMSIZ.
std::optional<std::string> check_tap_prefix(std::string_view prefix);
/// TAPs: prefix + [0-9a-z]{1,10}, at most 15 characters in all.
std::optional<std::string> check_tap_name(std::string_view name,
                                          std::string_view prefix);
/// A bridge's own address: a usable unicast host address (neither the
/// network nor the broadcast address of its subnet), prefix 8..30.
std::optional<std::string> check_bridge_cidr(std::string_view cidr);
/// A guest address: a unicast IPv4 address (not 0/8, 127/8, 224/4 or above).
std::optional<std::string> check_guest_ip(std::string_view ip);
/// A guest MAC: six lowercase hex pairs separated by ':', unicast (the
/// group bit clear) and not all zero.
std::optional<std::string> check_mac(std::string_view mac);
/// Whether two IPv4 prefixes share any address.
bool overlaps(const ipv4_cidr& a, const ipv4_cidr& b);
/// The helper's --subnet: a network address "a.b.c.0/N", N in 8..29; its
/// bridge takes the first host address (as bangerd's bridge_address does).
std::optional<ipv4_cidr> parse_subnet(std::string_view text,
                                      std::string* why = nullptr);

} // namespace banger
