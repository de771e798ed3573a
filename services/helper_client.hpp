#pragma once
// The daemon's blocking client of banger-helper (messages/helper.hpp). Each
// call opens a fresh connection to the helper's socket, sends one request,
// reads its one reply and closes: no state survives between calls, so a
// helper restarted in between is harmless.
//
// Everything here blocks (up to the timeout, per call): call it from
// detached actors or workers only. Calls share no state, so one client may
// serve several threads at once.
//
// Errors (caf::error made with banger::make_error):
//   - the socket does not accept          -> ec::unavailable, naming the
//     socket, the reason and how to start the helper;
//   - no reply within the timeout, or the connection closed before it
//                                         -> ec::unavailable;
//   - an "error" frame from the helper    -> the ec of its code
//     (ec_from_string), message "banger-helper: <its message>";
//   - a reply that does not decode, or a missing descriptor
//                                         -> ec::internal.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "messages/helper.hpp"
#include "services/unique_fd.hpp"

namespace banger {

class helper_client {
public:
  explicit helper_client(
      std::string socket_path,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& socket_path() const { return socket_path_; }

  caf::expected<helper_ensure_bridge_reply>
  ensure_bridge(const helper_ensure_bridge& req);
  caf::expected<helper_create_tap_reply>
  create_tap(const helper_create_tap& req);
  caf::expected<helper_delete_tap_reply>
  delete_tap(const helper_delete_tap& req);
  caf::expected<helper_add_nat_reply> add_nat(const helper_add_nat& req);
  caf::expected<helper_remove_nat_reply>
  remove_nat(const helper_remove_nat& req);
  caf::expected<helper_list_reply> list();
  /// A new descriptor of TAP `name` (IFF_TAP | IFF_NO_PI, CLOEXEC); the
  /// caller owns it. Hand it to the VMM as QEMU `-netdev tap,fd=N` (clear
  /// CLOEXEC on the child's copy). One open descriptor per TAP at a time.
  caf::expected<unique_fd> open_tap(const std::string& name);
  /// A UDP socket (CLOEXEC, SO_REUSEADDR) bound to address:port, which must
  /// be an address of banger's bridge; the caller owns it.
  caf::expected<unique_fd> bind_dns(const std::string& address,
                                    std::uint16_t port);
  /// Binds a TAP to its guest's address and MAC (anti-spoofing).
  caf::expected<helper_bind_tap_reply> bind_tap(const helper_bind_tap& req);

private:
  /// One request -> the body of its "result" frame. When `fd` is non-null
  /// the result must carry exactly one descriptor, stored there.
  caf::expected<wire::json> call(const char* type, wire::json body,
                                 unique_fd* fd = nullptr);

  std::string socket_path_;
  std::chrono::milliseconds timeout_;
};

} // namespace banger
