#pragma once
// The typed operations: decode a request body, validate every name and
// address, check that each link touched is banger's, act, and encode the
// reply. One operation runs at a time (the host's interfaces are shared).
//
// Ownership marks (how the helper knows what it created, across restarts):
// the IFLA_IFALIAS of each link it creates, "banger:bridge" or "banger:tap".
// A link without its mark is never changed or deleted; a TAP must also carry
// the configured prefix. NAT rules live in table "ip banger" only.

#include <mutex>
#include <string>

#include "helper/auth.hpp"
#include "helper/netlink.hpp"
#include "helper/nft.hpp"
#include "helper/options.hpp"
#include "messages/helper.hpp"
#include "messages/wire.hpp"

namespace banger::helper {

inline constexpr const char* bridge_mark = "banger:bridge";
inline constexpr const char* tap_mark = "banger:tap";

class operations {
public:
  explicit operations(options opts);

  /// Runs one request and returns the "result" or "error" frame to send.
  /// Logs who asked, what, and how it ended. Never throws.
  wire::envelope handle(const wire::envelope& req, const peer& who);

private:
  wire::json dispatch(const wire::envelope& req);
  helper_ensure_bridge_reply ensure_bridge(const helper_ensure_bridge& req);
  helper_create_tap_reply create_tap(const helper_create_tap& req);
  helper_delete_tap_reply delete_tap(const helper_delete_tap& req);
  helper_add_nat_reply add_nat(const helper_add_nat& req);
  helper_remove_nat_reply remove_nat(const helper_remove_nat& req);
  helper_list_reply list();

  /// The bridge `name`, which must exist and be banger's.
  link_info own_bridge(const std::string& name);

  options opts_;
  std::mutex mutex_;
  netlink nl_;
  nft nft_;
};

} // namespace banger::helper
