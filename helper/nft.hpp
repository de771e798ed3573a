#pragma once
// banger's NAT rules in its own nftables table, through libnftables' JSON
// API: commands are built as JSON objects from validated values, never as
// command text, so no input can be parsed as nft syntax.
//
//   table ip banger {
//     chain postrouting { type nat hook postrouting priority srcnat; policy
//     accept;
//       ip saddr 172.16.0.5 oifname != "banger0" masquerade comment
//       "banger:172.16.0.5"
//     }
//   }
// The guard rules (nft_guard.cpp) live in two more tables of the same name:
//
//   table bridge banger {            # what guests may send (anti-spoofing)
//     chain prerouting { type filter hook prerouting priority -200;
//       iifname "bgtap0" jump tap_bgtap0 comment "banger:tap bgtap0 IP MAC"
//       iifname "bgtap*" drop comment "banger:bridge banger0"  # unbound TAPs
//     }
//     chain tap_bgtap0 {
//       ether saddr != MAC drop
//       ether type != { ip, arp } drop
//       arp saddr ether != MAC drop
//       arp saddr ip != IP drop
//       ip saddr != IP drop
//       accept
//     }
//   }
//   table inet banger {              # what guests may reach on the host
//     chain input { type filter hook input priority 0;
//       iifname "banger0" ct state established,related accept
//       iifname "banger0" ip daddr BRIDGE udp dport 53 accept
//       iifname "banger0" ip daddr BRIDGE tcp dport 53 accept
//       iifname "banger0" drop
//     }
//   }
// The helper touches no other table. Failures throw op_error("internal").

#include <cstdint>
#include <string>
#include <vector>

#include "messages/helper.hpp"

struct nft_ctx;

namespace banger::helper {

inline constexpr const char* nft_table = "banger";
inline constexpr const char* nft_chain = "postrouting";
inline constexpr const char* nft_comment_prefix = "banger:";

/// {"<verb>": {"<kind>": spec}}, one command of a libnftables JSON batch.
wire::json nft_command(const char* verb, const char* kind, wire::json spec);

class nft {
public:
  nft();
  ~nft();
  nft(const nft&) = delete;
  nft& operator=(const nft&) = delete;

  /// Ensures one rule for `guest` leaving through anything but `bridge`.
  /// Returns false if exactly that rule was there already.
  bool add_masquerade(ipv4 guest, const std::string& bridge);
  /// Removes every rule of `guest`; returns how many there were.
  std::uint32_t remove_masquerade(ipv4 guest);
  /// The rules in banger's table (none when the table does not exist).
  std::vector<helper_nat_rule> rules();

  /// What guests on `bridge` may reach on the host (only DNS on `addr`,
  /// and replies), and that TAPs of `tap_prefix` forward nothing until
  /// bound. Idempotent; replaced atomically when it differs.
  void ensure_guard(const std::string& bridge, ipv4 addr,
                    const std::string& tap_prefix);

  struct tap_binding {
    std::string tap;
    std::string guest_ip;
    std::string mac;
  };
  /// Every TAP binding in table bridge banger.
  std::vector<tap_binding> bindings();
  /// Binds `tap` to one source IP and MAC (one transaction). Returns false
  /// if exactly that binding was there already.
  bool bind_tap(const std::string& tap, ipv4 ip, const std::string& mac);
  /// Removes the binding of `tap` (its jump and its chain); returns whether
  /// there was one.
  bool unbind_tap(const std::string& tap);

private:
  struct rule_ref {
    helper_nat_rule rule;
    std::uint64_t handle = 0;
  };
  std::vector<rule_ref> list();
  bool has_table(const char* family);
  /// The rules of `family` banger whose comment starts with `prefix`:
  /// (comment, chain, handle); and the names of its chains.
  struct tagged_rule {
    std::string comment;
    std::string chain;
    std::uint64_t handle = 0;
  };
  std::vector<tagged_rule> tagged(const char* family, const std::string& prefix,
                                  std::vector<std::string>* chains = nullptr);
  wire::json run(const wire::json& commands, const std::string& what);
  nft_ctx* ctx_;
};

} // namespace banger::helper
