#include "services/timefmt.hpp"

#include <cstdio>
#include <ctime>
#include <random>

namespace banger {

std::string now_rfc3339() {
  return rfc3339(static_cast<std::int64_t>(std::time(nullptr)));
}

std::string rfc3339(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string random_id() {
  std::random_device rd; // getrandom(2) on Linux
  std::uint64_t hi = rd(), lo = rd();
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>((hi << 32) | lo));
  return buf;
}

} // namespace banger
