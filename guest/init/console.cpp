#include "guest/init/console.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/reboot.h>
#include <unistd.h>

namespace banger::init {

void attach_console() {
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY);
  if (fd < 0)
    return; // nothing to print to; carry on silently
  for (int target = 0; target < 3; ++target)
    if (fd != target)
      ::dup2(fd, target);
  if (fd > 2)
    ::close(fd);
}

void say(std::string_view what) {
  std::string line = "banger-init: ";
  line += what;
  line += '\n';
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

void say_errno(std::string_view what, int err) {
  std::string line(what);
  line += ": ";
  line += std::strerror(err);
  say(line);
}

void fatal(std::string_view what) {
  std::string line = "FATAL: ";
  line += what;
  line += "; powering off";
  say(line);
  power_off(RB_POWER_OFF);
}

void fatal_errno(std::string_view what, int err) {
  std::string line(what);
  line += ": ";
  line += std::strerror(err);
  fatal(line);
}

void power_off(int how) {
  ::sync();
  ::reboot(how);
  say_errno("reboot", errno);
  for (;;)
    ::pause();
}

} // namespace banger::init
