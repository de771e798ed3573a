#pragma once
// A refusal or failure inside the helper: a wire code (helper_code) and a
// sentence saying what failed, on what, and what to do. Thrown by the
// netlink/tun/nft wrappers and the operations; caught by the server, which
// turns it into one "error" frame. Never leaves the helper.

#include <stdexcept>
#include <string>

namespace banger::helper {

struct op_error : std::runtime_error {
  op_error(const char* code, std::string message)
      : std::runtime_error(std::move(message)), code(code) {}
  const char* code;
};

} // namespace banger::helper
