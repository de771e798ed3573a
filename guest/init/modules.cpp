#include "guest/init/modules.hpp"

#include <cerrno>
#include <fstream>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "guest/init/console.hpp"

namespace banger::init {

std::vector<std::string> module_list(module_stage stage,
                                     const std::string& list_path) {
  std::vector<std::string> out;
  std::ifstream list(list_path);
  if (!list)
    return out; // a kernel with everything built in needs no list
  utsname uts{};
  ::uname(&uts);
  const std::string dir = std::string("/lib/modules/") + uts.release + "/";
  bool late = false;
  std::string line;
  while (std::getline(list, line)) {
    if (line == "#late")
      late = true;
    if (line.empty() || line[0] == '#')
      continue;
    if (late == (stage == module_stage::late))
      out.push_back(dir + line);
  }
  return out;
}

std::vector<int> open_modules(const std::vector<std::string>& paths) {
  std::vector<int> fds;
  for (auto& path : paths) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      say_errno("insmod " + path, errno);
    fds.push_back(fd);
  }
  return fds;
}

void load_modules(const std::vector<int>& fds,
                  const std::vector<std::string>& paths) {
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0)
      continue;
    // glibc has no wrapper; finit_module saves reading the file ourselves.
    if (::syscall(SYS_finit_module, fds[i], "", 0) != 0 && errno != EEXIST)
      say_errno("insmod " + paths[i], errno);
    ::close(fds[i]);
  }
}

} // namespace banger::init
