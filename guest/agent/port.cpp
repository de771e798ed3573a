#include "guest/agent/port.hpp"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "guest/agent/log.hpp"

namespace banger::agent {

std::optional<std::string> find_port(const std::string& name) {
  const std::string base = "/sys/class/virtio-ports";
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr)
    return std::nullopt;
  std::optional<std::string> found;
  while (auto* ent = ::readdir(dir)) {
    std::string entry = ent->d_name;
    if (entry.empty() || entry[0] == '.')
      continue;
    std::ifstream in(base + "/" + entry + "/name");
    std::string value;
    if (std::getline(in, value) && value == name) {
      found = "/dev/" + entry;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

int open_port(const std::string& name) {
  using namespace std::chrono;
  auto start = steady_clock::now();
  bool complained = false;
  for (;;) {
    int err = ENOENT;
    if (auto path = find_port(name)) {
      // Non-blocking: a write to a port whose host side is gone blocks
      // until some host connects, which would wedge the whole agent.
      int fd = ::open(path->c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0)
        return fd;
      err = errno;
    }
    // The device node appears shortly after the module loads (devtmpfs is
    // filled asynchronously); only complain when it takes unusually long.
    if (!complained && steady_clock::now() - start > seconds(5)) {
      log_errno("still waiting for the virtio-serial port " + name, err);
      complained = true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

} // namespace banger::agent
