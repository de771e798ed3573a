#pragma once
// A thin wrapper over spdlog: every line starts with the component (actor)
// that wrote it, as Tenzir does, so a daemon log reads like a trace.

#include <string_view>

#include <spdlog/spdlog.h>

namespace banger::log {

template <class... Ts>
void info(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::info("[{}] {}", who, fmt::format(fmt, std::forward<Ts>(xs)...));
}

template <class... Ts>
void warn(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::warn("[{}] {}", who, fmt::format(fmt, std::forward<Ts>(xs)...));
}

template <class... Ts>
void error(std::string_view who, spdlog::format_string_t<Ts...> fmt,
           Ts&&... xs) {
  spdlog::error("[{}] {}", who, fmt::format(fmt, std::forward<Ts>(xs)...));
}

} // namespace banger::log
