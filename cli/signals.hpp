#pragma once
// Turns asynchronous signals into readable bytes on a pipe (the self-pipe
// trick) so that the client's poll loop handles them like any other input.

#include <initializer_list>
#include <vector>

#include <csignal>

namespace banger::cli {

/// While alive, the given signals are caught and queued on fd(); the previous
/// dispositions come back on destruction. One instance at a time.
class signal_pipe {
public:
  explicit signal_pipe(std::initializer_list<int> signals);
  ~signal_pipe();
  signal_pipe(const signal_pipe&) = delete;
  signal_pipe& operator=(const signal_pipe&) = delete;

  /// Readable when at least one signal arrived.
  int fd() const { return read_fd_; }

  /// The signals received since the last call, in order.
  std::vector<int> drain();

private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::vector<std::pair<int, struct sigaction>> saved_;
};

} // namespace banger::cli
