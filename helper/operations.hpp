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
#include "services/unique_fd.hpp"

namespace banger::helper {

inline constexpr const char* bridge_mark = "banger:bridge";
inline constexpr const char* tap_mark = "banger:tap";

/// What answers one request: the "result" or "error" frame, and for
/// open_tap/bind_dns results the descriptor to pass with it (SCM_RIGHTS).
struct answer {
  wire::envelope frame;
  unique_fd fd; // empty for every other reply and for every error
};

class operations {
public:
  explicit operations(options opts);

  /// Runs one request and returns what to send. Logs who asked, what, and
  /// how it ended. Never throws.
  answer handle(const wire::envelope& req, const peer& who);

  /// At start: refuses (op_error) a --subnet that overlaps an address or a
  /// route already on the host, removes the bindings of TAPs that no longer
  /// exist, and renews the guard rules of an existing bridge.
  void start();

private:
  wire::json dispatch(const wire::envelope& req, unique_fd& fd);
  helper_ensure_bridge_reply ensure_bridge(const helper_ensure_bridge& req);
  helper_create_tap_reply create_tap(const helper_create_tap& req);
  helper_delete_tap_reply delete_tap(const helper_delete_tap& req);
  helper_add_nat_reply add_nat(const helper_add_nat& req);
  helper_remove_nat_reply remove_nat(const helper_remove_nat& req);
  helper_list_reply list();
  helper_open_tap_reply open_tap(const helper_open_tap& req, unique_fd& fd);
  helper_bind_dns_reply bind_dns(const helper_bind_dns& req, unique_fd& fd);
  helper_bind_tap_reply bind_tap(const helper_bind_tap& req);

  /// Throws unless the subnet shares no address with any address or route
  /// of the host outside banger's own bridge.
  void check_subnet_free();
  /// Removes the bindings of TAPs that no longer exist.
  void drop_stale_bindings();
  /// Throws unless `name` is the helper's --bridge.
  void require_own_bridge_name(const std::string& name);

  /// The bridge `name`, which must exist and be banger's.
  link_info own_bridge(const std::string& name);

  options opts_;
  std::mutex mutex_;
  netlink nl_;
  nft nft_;
};

} // namespace banger::helper
