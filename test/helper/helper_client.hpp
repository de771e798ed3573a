#pragma once
// A bare client of banger-helper's socket for tests: typed calls, and raw
// bytes for the malformed-frame cases.

#include <optional>
#include <string>

#include "messages/agent.hpp"
#include "messages/helper.hpp"
#include "messages/wire.hpp"

namespace banger::test {

class helper_client {
public:
  explicit helper_client(const std::string& socket);
  ~helper_client();
  helper_client(const helper_client&) = delete;
  helper_client& operator=(const helper_client&) = delete;

  bool connected() const { return fd_ >= 0; }

  /// Sends one request and returns the frame that answers it.
  wire::envelope call(const std::string& type, const wire::json& body);
  /// Sends raw bytes as they are.
  void send_raw(const std::string& bytes);
  /// Reads the next frame; nullopt on EOF.
  std::optional<wire::envelope> read();

  /// A typed call that must succeed: the decoded reply.
  template <class Reply, class Request>
  Reply ok(const std::string& type, const Request& req) {
    auto env = call(type, to_json(req));
    if (env.type != helper_msg::result)
      throw std::runtime_error(type + " failed: " + env.body.dump());
    return decode<Reply>(env.body);
  }

  /// A typed call that must fail: the error body.
  template <class Request>
  error_body refused(const std::string& type, const Request& req) {
    auto env = call(type, to_json(req));
    if (env.type != helper_msg::error)
      throw std::runtime_error(type + " was not refused: " + env.body.dump());
    return decode<error_body>(env.body);
  }

private:
  int fd_ = -1;
  std::uint64_t next_id_ = 1;
  wire::frame_reader reader_;
};

} // namespace banger::test
