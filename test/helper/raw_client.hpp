#pragma once
// A bare connection to banger-helper's socket, for what the real client
// (services/helper_client.hpp) never does: several frames on one connection,
// raw bytes for the malformed-frame cases, a connection held open, and a
// look at every descriptor that arrives.

#include <optional>
#include <string>
#include <vector>

#include "messages/agent.hpp"
#include "messages/helper.hpp"
#include "messages/wire.hpp"
#include "services/unique_fd.hpp"

namespace banger::test {

class raw_client {
public:
  explicit raw_client(const std::string& socket);

  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  /// Sends one request and returns the frame that answers it.
  wire::envelope call(const std::string& type, const wire::json& body);
  /// Sends raw bytes as they are.
  void send_raw(const std::string& bytes);
  /// Reads the next frame; nullopt on EOF.
  std::optional<wire::envelope> read();
  /// Every descriptor received so far (SCM_RIGHTS), in arrival order.
  std::vector<unique_fd>& fds() { return fds_; }

private:
  unique_fd fd_;
  std::uint64_t next_id_ = 1;
  wire::frame_reader reader_;
  std::vector<unique_fd> fds_;
};

} // namespace banger::test
