#pragma once
// Timestamps as stored and shown: RFC 3339 in UTC, second precision.

#include <cstdint>
#include <string>

namespace banger {

/// The current time, e.g. "2026-11-28T13:03:25Z".
std::string now_rfc3339();

/// A time given in seconds since the Unix epoch, e.g. "2026-11-28T13:03:25Z".
std::string rfc3339(std::int64_t unix_seconds);

/// A fresh random id: 16 lowercase hex digits (64 bits from the kernel).
std::string random_id();

} // namespace banger
