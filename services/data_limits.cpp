#include "services/data_limits.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/statvfs.h>

#include "services/error.hpp"

namespace banger {

caf::expected<std::uint64_t> free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0)
    return make_error(ec::unavailable, "cannot ask for the free space of " + dir
                                           + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(st.f_bavail)
         * static_cast<std::uint64_t>(st.f_frsize);
}

caf::expected<std::uint64_t> byte_budget(const data_limits& limits,
                                         const std::string& dir) {
  auto avail = free_bytes(dir);
  if (!avail)
    return avail.error();
  auto usable = *avail > limits.free_margin ? *avail - limits.free_margin : 0;
  return std::min(limits.max_bytes, usable);
}

} // namespace banger
