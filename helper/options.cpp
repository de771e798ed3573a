#include "helper/options.hpp"

#include "messages/helper.hpp"

namespace banger::helper {

namespace {

bool absolute_and_clean(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return false;
  // No "." or ".." component: what the helper checks is what the kernel uses.
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    auto part = path.substr(start, end - start);
    if (part == "." || part == "..")
      return false;
    start = end + 1;
  }
  return true;
}

} // namespace

std::optional<std::string> check(const options& opts) {
  if (!absolute_and_clean(opts.socket_path))
    return "--socket '" + opts.socket_path
           + "' must be an absolute path without '.' or '..' components";
  if (!absolute_and_clean(opts.state_dir))
    return "--state-dir '" + opts.state_dir
           + "' must be an absolute path without '.' or '..' components";
  if (auto why = check_tap_prefix(opts.tap_prefix))
    return "--tap-prefix: " + *why;
  return std::nullopt;
}

} // namespace banger::helper
