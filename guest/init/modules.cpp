#include "guest/init/modules.hpp"

#include <cerrno>
#include <fstream>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "guest/init/console.hpp"

namespace banger::init {

int load_modules(const std::string& list_path) {
  std::ifstream list(list_path);
  if (!list)
    return 0; // a kernel with everything built in needs no list
  utsname uts{};
  ::uname(&uts);
  const std::string dir = std::string("/lib/modules/") + uts.release + "/";
  int loaded = 0;
  std::string line;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto path = dir + line;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      say_errno("insmod " + path, errno);
      continue;
    }
    // glibc has no wrapper; finit_module saves reading the file ourselves.
    if (::syscall(SYS_finit_module, fd, "", 0) == 0)
      ++loaded;
    else if (errno != EEXIST)
      say_errno("insmod " + path, errno);
    ::close(fd);
  }
  return loaded;
}

} // namespace banger::init
