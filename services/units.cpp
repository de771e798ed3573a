#include "services/units.hpp"

#include <iterator>

#include <fmt/format.h>

namespace banger {

namespace {

std::string one_decimal(double v, std::string_view unit) {
  auto s = v < 10 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
  if (s.size() > 2 && s.ends_with(".0"))
    s.resize(s.size() - 2);
  return s + std::string(unit);
}

} // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr std::string_view units[] = {"KiB", "MiB", "GiB", "TiB",
                                               "PiB"};
  if (bytes < 1024)
    return fmt::format("{}B", bytes);
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) {
    v /= 1024.0;
    ++u;
  }
  return one_decimal(v, units[u]);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (n > (UINT64_MAX - digit) / 10)
      return std::nullopt;
    n = n * 10 + digit;
    ++i;
  }
  if (i == 0 || n == 0)
    return std::nullopt;
  auto unit = text.substr(i);
  int shift = 0;
  if (!unit.empty()) {
    static constexpr std::string_view units = "KMGT";
    auto u = units.find(static_cast<char>(unit[0] & ~0x20));
    if (u == std::string_view::npos)
      return std::nullopt;
    shift = 10 * static_cast<int>(u + 1);
    auto rest = unit.substr(1);
    if (!rest.empty() && rest != "B" && rest != "iB")
      return std::nullopt;
  }
  if (shift > 0 && n > (UINT64_MAX >> shift))
    return std::nullopt;
  return n << shift;
}

} // namespace banger
