#include "services/helper_client.hpp"

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/peer.hpp"

namespace banger {

namespace {

using clock = std::chrono::steady_clock;

/// Every call is one connection with one request on it.
constexpr std::uint64_t request_id = 1;

std::string seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0)
    return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

template <class Reply>
caf::expected<Reply> decoded(caf::expected<wire::json> body, const char* type) {
  if (!body)
    return std::move(body.error());
  try {
    return decode<Reply>(*body);
  } catch (const wire::decode_error& e) {
    return make_error(ec::internal,
                      std::string("banger-helper's reply to ") + type
                          + " does not decode: " + e.what()
                          + "; are bangerd and banger-helper the same "
                            "version?");
  }
}

} // namespace

helper_client::helper_client(std::string socket_path,
                             std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

caf::expected<wire::json> helper_client::call(const char* type, wire::json body,
                                              unique_fd* fd) {
  auto deadline = clock::now() + timeout_;
  auto at = "banger-helper at '" + socket_path_ + "'";
  auto timed_out = [&] {
    return make_error(ec::unavailable,
                      at + " did not answer " + type + " within "
                          + seconds(timeout_)
                          + ": it may be stuck; check its log, or restart it "
                            "with `sudo banger daemon start`");
  };

  unique_fd sock{wire::connect_unix(socket_path_)};
  if (!sock.valid()) {
    int err = errno;
    std::string hint =
        "is it running? start it with `sudo banger daemon start`";
    if (err == EACCES || err == EPERM)
      hint = "the socket belongs to another user: banger-helper serves only "
             "its --owner-uid; run bangerd as that user";
    return make_error(ec::unavailable, "cannot connect to " + at + ": "
                                           + std::strerror(err) + "; " + hint);
  }
  // Only root's helper (or our own uid's, which can do nothing we cannot)
  // may hand us descriptors and answers: not one another user put there.
  auto peer = peer_of(sock.get());
  if (!peer)
    return make_error(ec::unavailable, at + ": " + error_message(peer.error()));
  if (auto why = check_peer_uid(*peer, {0, ::geteuid()}, at); !why.empty())
    return make_error(ec::unavailable,
                      why + "; a banger-helper must run as root: stop that "
                            "process and start banger with `sudo banger "
                            "daemon start`");
  // A helper that stopped reading must not hold us past the timeout.
  auto ms = timeout_.count();
  timeval tv{static_cast<time_t>(ms / 1000),
             static_cast<suseconds_t>((ms % 1000) * 1000)};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  wire::envelope req;
  req.id = request_id;
  req.type = type;
  req.body = std::move(body);
  if (!wire::send_all(sock.get(), wire::encode_frame(req))) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK)
      return timed_out();
    return make_error(ec::unavailable,
                      "cannot send " + std::string(type) + " to " + at + ": "
                          + std::strerror(err)
                          + "; it may have stopped: retry, or start it with "
                            "`sudo banger daemon start`");
  }

  wire::frame_reader reader;
  std::vector<unique_fd> fds; // owned as soon as they arrive, whatever happens
  std::optional<std::string> payload;
  for (;;) {
    try {
      payload = reader.next();
    } catch (const wire::decode_error& e) {
      return make_error(ec::internal, "banger-helper's reply to "
                                          + std::string(type)
                                          + " is malformed: " + e.what());
    }
    if (payload)
      break;
    // Rounded up: poll must not wake a fraction of a millisecond early.
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return timed_out();
    pollfd p{sock.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready == 0)
      return timed_out();
    char buf[16384];
    std::vector<int> got;
    auto n =
        ready < 0 ? -1 : wire::recv_with_fds(sock.get(), buf, sizeof(buf), got);
    for (int f : got)
      fds.emplace_back(f);
    if (n < 0)
      return make_error(ec::unavailable, "cannot read banger-helper's reply to "
                                             + std::string(type) + " from '"
                                             + socket_path_
                                             + "': " + std::strerror(errno));
    if (n == 0)
      return make_error(
          ec::unavailable,
          at + " closed the connection "
              + (reader.buffered() > 0 ? "in the middle of its reply to "
                                       : "before answering ")
              + type
              + ": it may have stopped or restarted; retry, or check its log");
    reader.feed(buf, static_cast<std::size_t>(n));
  }

  wire::envelope reply;
  try {
    reply = wire::parse_envelope(*payload);
  } catch (const wire::decode_error& e) {
    return make_error(ec::internal, "banger-helper's reply to "
                                        + std::string(type)
                                        + " is malformed: " + e.what());
  }
  if (reply.id != request_id)
    return make_error(ec::internal,
                      "banger-helper answered " + std::string(type)
                          + " with id " + std::to_string(reply.id)
                          + " instead of " + std::to_string(request_id));
  if (reply.type == helper_msg::error) {
    error_body err;
    try {
      err = decode<error_body>(reply.body);
    } catch (const wire::decode_error& e) {
      return make_error(ec::internal, "banger-helper's error reply to "
                                          + std::string(type)
                                          + " is malformed: " + e.what());
    }
    auto code = ec_from_string(err.code);
    if (code == ec::none) // "none" would make no error at all
      code = ec::internal;
    return make_error(code, "banger-helper: " + err.message);
  }
  if (reply.type != helper_msg::result)
    return make_error(ec::internal, "banger-helper answered "
                                        + std::string(type)
                                        + " with an unexpected frame type '"
                                        + reply.type + "'");
  if (fd != nullptr) {
    if (fds.size() != 1)
      return make_error(ec::internal,
                        "banger-helper answered " + std::string(type) + " with "
                            + std::to_string(fds.size())
                            + " file descriptors instead of one; are bangerd "
                              "and banger-helper the same version?");
    *fd = std::move(fds.front());
  }
  return std::move(reply.body);
}

caf::expected<helper_ensure_bridge_reply>
helper_client::ensure_bridge(const helper_ensure_bridge& req) {
  return decoded<helper_ensure_bridge_reply>(
      call(helper_msg::ensure_bridge, to_json(req)), helper_msg::ensure_bridge);
}

caf::expected<helper_create_tap_reply>
helper_client::create_tap(const helper_create_tap& req) {
  return decoded<helper_create_tap_reply>(
      call(helper_msg::create_tap, to_json(req)), helper_msg::create_tap);
}

caf::expected<helper_delete_tap_reply>
helper_client::delete_tap(const helper_delete_tap& req) {
  return decoded<helper_delete_tap_reply>(
      call(helper_msg::delete_tap, to_json(req)), helper_msg::delete_tap);
}

caf::expected<helper_add_nat_reply>
helper_client::add_nat(const helper_add_nat& req) {
  return decoded<helper_add_nat_reply>(call(helper_msg::add_nat, to_json(req)),
                                       helper_msg::add_nat);
}

caf::expected<helper_remove_nat_reply>
helper_client::remove_nat(const helper_remove_nat& req) {
  return decoded<helper_remove_nat_reply>(
      call(helper_msg::remove_nat, to_json(req)), helper_msg::remove_nat);
}

caf::expected<helper_bind_tap_reply>
helper_client::bind_tap(const helper_bind_tap& req) {
  return decoded<helper_bind_tap_reply>(
      call(helper_msg::bind_tap, to_json(req)), helper_msg::bind_tap);
}

caf::expected<helper_list_reply> helper_client::list() {
  return decoded<helper_list_reply>(
      call(helper_msg::list, to_json(helper_list_request{})), helper_msg::list);
}

caf::expected<unique_fd> helper_client::open_tap(const std::string& name) {
  unique_fd fd;
  auto reply = decoded<helper_open_tap_reply>(
      call(helper_msg::open_tap, to_json(helper_open_tap{name}), &fd),
      helper_msg::open_tap);
  if (!reply)
    return std::move(reply.error());
  if (reply->name != name)
    return make_error(ec::internal, "banger-helper opened TAP '" + reply->name
                                        + "' when asked for '" + name + "'");
  return fd;
}

caf::expected<unique_fd> helper_client::bind_dns(const std::string& address,
                                                 std::uint16_t port) {
  unique_fd fd;
  auto reply = decoded<helper_bind_dns_reply>(
      call(helper_msg::bind_dns, to_json(helper_bind_dns{address, port}), &fd),
      helper_msg::bind_dns);
  if (!reply)
    return std::move(reply.error());
  if (reply->port != port)
    return make_error(ec::internal,
                      "banger-helper bound port " + std::to_string(reply->port)
                          + " when asked for " + std::to_string(port));
  return fd;
}

} // namespace banger
