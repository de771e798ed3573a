#include "guest/agent/log.hpp"

#include <cstring>
#include <string>

#include <unistd.h>

namespace banger::agent {

void log(std::string_view what) {
  std::string line = "banger-agent: ";
  line += what;
  line += '\n';
  // One write so that lines from concurrent writers do not interleave.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

void log_errno(std::string_view what, int err) {
  std::string line(what);
  line += ": ";
  line += std::strerror(err);
  log(line);
}

} // namespace banger::agent
