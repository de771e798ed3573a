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

private:
  struct rule_ref {
    helper_nat_rule rule;
    std::uint64_t handle = 0;
  };
  std::vector<rule_ref> list();
  wire::json run(const wire::json& commands, const std::string& what);
  nft_ctx* ctx_;
};

} // namespace banger::helper
