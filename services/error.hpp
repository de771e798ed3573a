#pragma once
// banger's error codes. Every error carries a human sentence (what failed, on
// what, and what to do) as its context; the code tells scripts the kind.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/expected.hpp>

namespace banger {

enum class ec : std::uint8_t {
  /// Not an error.
  none = 0,
  /// The request names something that does not exist (VM, image, kernel).
  not_found,
  /// The request would create something that exists already.
  already_exists,
  /// A value in the request is malformed or out of range.
  invalid_argument,
  /// The operation does not apply in the object's current state.
  bad_state,
  /// The host lacks something banger needs (a binary, a device, space).
  unavailable,
  /// A peer broke the protocol (bad frame, unknown type, wrong version).
  protocol,
  /// The operation was cancelled (client went away, daemon shutting down).
  cancelled,
  /// The guest agent did not answer or failed.
  agent,
  /// The VMM failed to start or died.
  vmm,
  /// An unexpected failure inside banger (a bug or an I/O error).
  internal,
};

/// The wire name of a code ("not_found", ...).
const char* to_string(ec code);
/// Parses a wire name; unknown names map to ec::internal.
ec ec_from_string(const std::string& name);

/// Makes an error with a human sentence.
caf::error make_error(ec code, std::string message);

/// The sentence of an error made by make_error (or CAF's own rendering).
std::string error_message(const caf::error& err);
/// The banger code of an error, ec::internal for foreign errors.
ec error_code(const caf::error& err);

} // namespace banger

CAF_ERROR_CODE_ENUM(banger::ec, "banger")
