#include "cli/detach_keys.hpp"

namespace banger::cli {

std::string detach_keys::feed(std::string_view data) {
  std::string out;
  for (char c : data) {
    if (detached_)
      break;
    if (pending_) {
      pending_ = false;
      if (c == second) {
        detached_ = true;
        break;
      }
      out += first;
    }
    if (c == first)
      pending_ = true;
    else
      out += c;
  }
  return out;
}

} // namespace banger::cli
