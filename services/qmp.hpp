#pragma once
// A tiny blocking QMP client: one unix socket, line-delimited JSON, every
// wait bounded by poll. Enough to quit, stop, migrate and query a QEMU.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

namespace banger {

class qmp_client {
public:
  /// Connects to the QMP socket at `path`, reads QEMU's greeting and leaves
  /// negotiation mode (qmp_capabilities). `timeout` bounds each step and
  /// every later command. Errors are ec::vmm sentences naming the socket.
  static caf::expected<qmp_client> connect(const std::string& path,
                                           std::chrono::milliseconds timeout);

  qmp_client(qmp_client&& other) noexcept;
  qmp_client& operator=(qmp_client&& other) noexcept;
  qmp_client(const qmp_client&) = delete;
  qmp_client& operator=(const qmp_client&) = delete;
  ~qmp_client();

  /// Runs `command` with `arguments` (an object, or null for none) and
  /// returns QMP's "return" value; a QMP error becomes an ec::vmm error
  /// carrying its "desc".
  caf::expected<nlohmann::json> execute(const std::string& command,
                                        const nlohmann::json& arguments = nullptr);

  /// The greeting's "QMP" object (version, capabilities).
  const nlohmann::json& greeting() const { return greeting_; }

  /// Asynchronous events seen while waiting for replies, oldest first.
  const std::vector<nlohmann::json>& events() const { return events_; }

private:
  qmp_client(int fd, std::string path, std::chrono::milliseconds timeout);

  caf::expected<nlohmann::json> read_message();
  caf::expected<void> send_line(const std::string& line);

  int fd_ = -1;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  nlohmann::json greeting_;
  std::vector<nlohmann::json> events_;
  std::uint64_t next_id_ = 1;
};

} // namespace banger
