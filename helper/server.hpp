#pragma once
// The helper's Unix socket: binds it (mode 0600, owned by the owner uid),
// checks SO_PEERCRED on every connection, serves each connection on its own
// thread (operations run one at a time), and stops cleanly on SIGTERM/SIGINT.

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "helper/operations.hpp"
#include "helper/options.hpp"

namespace banger::helper {

/// Helper frames are small; anything larger is refused unread.
inline constexpr std::size_t max_frame = 64u << 10;

class server {
public:
  explicit server(options opts);
  ~server();

  /// Checks the host against the helper's network settings and tidies its
  /// rules (operations::start). Throws with a sentence on failure.
  void prepare();
  /// Binds the socket. Throws std::runtime_error with a sentence on failure.
  void bind();
  /// Serves until SIGTERM or SIGINT (which the caller must have blocked in
  /// every thread, see block_signals). Returns the exit code.
  int run();

  /// Blocks SIGTERM/SIGINT (received through a signalfd) and ignores SIGPIPE.
  /// Call before any thread starts.
  static void block_signals();

private:
  void serve(int fd);
  /// Writes one frame; `pass_fd` >= 0 travels with it (SCM_RIGHTS).
  void send(int fd, const wire::envelope& env, int pass_fd = -1);

  options opts_;
  operations ops_;
  int listen_fd_ = -1;
  std::mutex mutex_;
  std::set<int> conns_;
  struct worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<worker> workers_;
};

} // namespace banger::helper
