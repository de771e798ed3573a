#include "services/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace banger {

namespace {
constexpr const char* names[] = {
  "none",    "not_found", "already_exists", "invalid_argument",
  "bad_state", "unavailable", "protocol",   "cancelled",
  "agent",   "vmm",       "internal",
};
} // namespace

const char* to_string(ec code) {
  auto i = static_cast<std::size_t>(code);
  return i < std::size(names) ? names[i] : "internal";
}

ec ec_from_string(const std::string& name) {
  for (std::size_t i = 0; i < std::size(names); ++i)
    if (name == names[i])
      return static_cast<ec>(i);
  return ec::internal;
}

caf::error make_error(ec code, std::string message) {
  return caf::make_error(code, std::move(message));
}

std::string error_message(const caf::error& err) {
  if (!err)
    return {};
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return "the operation timed out";
    return "internal error: " + caf::to_string(code);
  }
  return "internal error: " + caf::to_string(err);
}

ec error_code(const caf::error& err) {
  if (err.category() == caf::atom("banger"))
    return static_cast<ec>(err.code());
  if (err.category() == caf::atom("system")
      && static_cast<caf::sec>(err.code()) == caf::sec::request_timeout)
    return ec::unavailable;
  return ec::internal;
}

} // namespace banger
