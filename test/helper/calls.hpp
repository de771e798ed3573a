#pragma once
// Reading the results of services/helper_client.hpp in tests: a call that
// must succeed, or one that must be refused (with its code and message).

#include <stdexcept>
#include <string>

#include <caf/expected.hpp>

#include "services/error.hpp"

namespace banger::test {

/// The value of a call that must succeed; throws (failing the test) with the
/// error's message otherwise.
template <class T> T ok(caf::expected<T> r) {
  if (!r)
    throw std::runtime_error("call failed: " + error_message(r.error()));
  return std::move(*r);
}

struct refusal {
  std::string code; // the wire name of banger::ec, "invalid_argument", ...
  std::string message;
};

/// The error of a call that must fail; throws if it succeeded.
template <class T> refusal refused(caf::expected<T> r) {
  if (r)
    throw std::runtime_error("call was not refused");
  return {to_string(error_code(r.error())), error_message(r.error())};
}

} // namespace banger::test
