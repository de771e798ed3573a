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

std::optional<std::string> check(options& opts) {
  if (!absolute_and_clean(opts.socket_path))
    return "--socket '" + opts.socket_path
           + "' must be an absolute path without '.' or '..' components";
  if (!absolute_and_clean(opts.state_dir))
    return "--state-dir '" + opts.state_dir
           + "' must be an absolute path without '.' or '..' components";
  if (auto why = check_tap_prefix(opts.tap_prefix))
    return "--tap-prefix: " + *why;
  if (auto why = check_bridge_name(opts.bridge))
    return "--bridge: " + *why;
  if (opts.bridge.rfind(opts.tap_prefix, 0) == 0)
    return "--bridge '" + opts.bridge + "' starts with the TAP prefix '"
           + opts.tap_prefix + "': pick another bridge name";
  std::string why;
  auto cidr = parse_subnet(opts.subnet, &why);
  if (!cidr)
    return "--subnet: " + why;
  opts.bridge_cidr = *cidr;
  if (opts.max_taps == 0 || opts.max_taps > 4096)
    return "--max-taps " + std::to_string(opts.max_taps)
           + " is out of range: use 1 to 4096";
  if (opts.max_clients == 0 || opts.max_clients > 1024)
    return "--max-clients " + std::to_string(opts.max_clients)
           + " is out of range: use 1 to 1024";
  return std::nullopt;
}

} // namespace banger::helper
